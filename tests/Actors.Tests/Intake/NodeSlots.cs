using Akka.Actor;
using Akka.TestKit;
using Scheduler.Messages.Protocol;

namespace Scheduler.Actors.Tests.Intake;

/// <summary>Makes a supervisor probe grant every node slot an intake reserves, and keeps the reservations out of the
/// messages the test expects (they are the coordinator's business, tested in SlotPoolTests and JobExecutionTests).</summary>
internal static class NodeSlots
{
    public static void GrantAll(TestProbe supervisor)
    {
        supervisor.SetAutoPilot(new DelegateAutoPilot((sender, message) =>
        {
            if (message is ReserveSlot reserve)
            {
                sender.Tell(new SlotReserved(reserve.ReservationId, 0));
            }

            return AutoPilot.KeepRunning;
        }));
        supervisor.IgnoreMessages(m => m is ReserveSlot or ReleaseSlotReservation);
    }
}

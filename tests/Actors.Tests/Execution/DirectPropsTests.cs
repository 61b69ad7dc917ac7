using Akka.Actor;
using Akka.TestKit.Xunit2;
using Scheduler.Actors.Execution;
using Xunit.Abstractions;

namespace Scheduler.Actors.Tests.Execution;

/// <summary>Props made by a factory behave as Akka's expression Props do: each start and restart is a new instance from the
/// factory, what the factory captured is shared by all of them, and the Props name the actor's type.</summary>
public sealed class DirectPropsTests(ITestOutputHelper output) : TestKit(output: output)
{
    private sealed class Counter
    {
        public int Made;
        public int Messages;
    }

    private sealed class Crashing : ReceiveActor
    {
        public Crashing(Counter counter, IActorRef probe)
        {
            var instance = ++counter.Made;
            Receive<string>(text =>
            {
                if (text == "crash")
                {
                    throw new InvalidOperationException("crash on purpose");
                }

                probe.Tell((instance, ++counter.Messages));
            });
        }
    }

    [Fact]
    public void A_restart_makes_a_new_instance_from_the_factory_and_keeps_what_it_captured()
    {
        var counter = new Counter();
        var props = DirectProps.Of(() => new Crashing(counter, TestActor));
        var actor = Sys.ActorOf(props, "crashing");

        actor.Tell("one");
        ExpectMsg((1, 1));
        EventFilter.Exception<InvalidOperationException>().ExpectOne(() => actor.Tell("crash"));
        actor.Tell("two");

        ExpectMsg((2, 2)); // the second instance, the same counter
        Assert.Equal(typeof(Crashing), props.Type);
    }
}

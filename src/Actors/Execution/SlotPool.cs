using Akka.Actor;
using Akka.Routing;

namespace Scheduler.Actors.Execution;

/// <summary>A slot as a routee of the pool: its index (slot-&lt;index&gt;) and its actor.</summary>
public sealed class SlotRoutee(int index, IActorRef slot) : Routee
{
    public int Index { get; } = index;
    public IActorRef Slot { get; } = slot;

    public override void Send(object message, IActorRef sender) => Slot.Tell(message, sender);
}

/// <summary>Picks the free slot with the lowest index, so that a node with few jobs keeps using the same slots.</summary>
public sealed class LowestFreeSlotLogic : RoutingLogic
{
    public override Routee Select(object message, Routee[] routees) =>
        routees.OfType<SlotRoutee>().MinBy(r => r.Index) as Routee ?? Routee.NoRoutee;
}

/// <summary>
/// The node's slots as an Akka.NET router whose routees are the free slots only: routing a reservation or a job to it reaches
/// a free slot or nobody, never a busy one (pull, not push). Which slot is free, reserved or running is recorded here; the
/// coordinator owns it and keeps it outside its own restarts. Grows and shrinks with <c>concurrent</c>: a slot above the size
/// stops when it is free; an adopted job takes an extra slot at once when none is free (it already runs).
/// </summary>
public sealed class SlotPool
{
    private readonly SortedDictionary<int, IActorRef> _slots = [];
    private readonly SortedSet<int> _free = [];
    private readonly Dictionary<string, int> _reservations = new(StringComparer.Ordinal);
    private readonly Dictionary<long, int> _jobs = [];
    private readonly Dictionary<int, long> _jobOfSlot = [];
    private readonly RoutingLogic _logic = new LowestFreeSlotLogic();

    public int Size { get; private set; }
    public int Count => _slots.Count;
    public int FreeCount => _free.Count;
    public IEnumerable<IActorRef> BusySlots => _slots.Where(s => !_free.Contains(s.Key)).Select(s => s.Value);
    public IEnumerable<IActorRef> AllSlots => _slots.Values;

    /// <summary>The router over the free slots now.</summary>
    public Router Router => new(_logic, _free.Select(i => (Routee)new SlotRoutee(i, _slots[i])).ToArray());

    /// <summary>Sets the size; returns the indexes of slots to create. Free slots above the size are returned in
    /// <paramref name="retired"/> and forgotten (the caller stops them).</summary>
    public IReadOnlyList<int> Resize(int size, out IReadOnlyList<IActorRef> retired)
    {
        Size = Math.Max(1, size);
        var toCreate = Enumerable.Range(0, Size).Where(i => !_slots.ContainsKey(i)).ToList();
        var gone = new List<IActorRef>();
        foreach (var index in _free.Where(i => i >= Size).ToList())
        {
            gone.Add(_slots[index]);
            _slots.Remove(index);
            _free.Remove(index);
        }

        retired = gone;
        return toCreate;
    }

    public void Add(int index, IActorRef slot)
    {
        _slots[index] = slot;
        _free.Add(index);
    }

    /// <summary>The index an extra slot (for an adopted job, beyond the size) gets.</summary>
    public int NextIndex => _slots.Count == 0 ? 0 : Math.Max(Size, _slots.Keys.Max() + 1);

    /// <summary>Sends <paramref name="message"/> to the free slot with the lowest index (what <see cref="LowestFreeSlotLogic"/>
    /// picks, without building the router: O(log n) per job) and marks it taken; null when none is free.</summary>
    public SlotRoutee? Take(object message, IActorRef sender)
    {
        if (_free.Count == 0)
        {
            return null;
        }

        var index = _free.Min;
        var routee = new SlotRoutee(index, _slots[index]);
        _free.Remove(index);
        routee.Send(message, sender);
        return routee;
    }

    public void Reserved(string reservationId, int index) => _reservations[reservationId] = index;

    /// <summary>The slot holding the reservation (forgotten here), or null.</summary>
    public (int Index, IActorRef Slot)? EndReservation(string reservationId) =>
        _reservations.Remove(reservationId, out var index) && _slots.TryGetValue(index, out var slot) ? (index, slot) : null;

    public void Running(long jobId, int index)
    {
        _jobs[jobId] = index;
        _jobOfSlot[index] = jobId;
    }

    public IActorRef? SlotOf(long jobId) => _jobs.TryGetValue(jobId, out var index) && _slots.TryGetValue(index, out var slot) ? slot : null;

    /// <summary>The slot is free again; returns it to stop when it is above the size.</summary>
    public IActorRef? Free(int index, long? jobId)
    {
        if (jobId is { } id && _jobs.TryGetValue(id, out var at) && at == index)
        {
            _jobs.Remove(id);
            _jobOfSlot.Remove(index);
        }

        // A reservation given back by a slot that runs a job after all stays taken by that job.
        if (!_slots.TryGetValue(index, out var slot) || (jobId is null && _jobOfSlot.ContainsKey(index)))
        {
            return null;
        }

        if (index >= Size)
        {
            _slots.Remove(index);
            _free.Remove(index);
            return slot;
        }

        _free.Add(index);
        return null;
    }
}

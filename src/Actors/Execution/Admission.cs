namespace Scheduler.Actors.Execution;

/// <summary>
/// Which jobs may take one of the node's slots, within <c>concurrent</c> (all runner entries together) and each entry's
/// <c>limit</c> (0 = no limit). Two ways in:
/// <list type="bullet">
/// <item>pull (<c>scheduler run</c>): an intake reserves a slot before it asks GitLab (<see cref="TryReserve"/>), then claims it
/// for the job it received (<see cref="Claim"/>) or releases it (<see cref="Release"/>). A reservation counts like a running
/// job, so a node never holds more jobs than it has slots, however many entries it serves;</item>
/// <item>push (<c>scheduler exec</c>, a claim that came too late): jobs wait in arrival order (<see cref="Enqueue"/>) and
/// <see cref="AdmitAll"/> moves those that fit. A job whose entry is at its limit does not hold back another entry's job.</item>
/// </list>
/// Each job gets the lowest free concurrent id of its entry (CI_CONCURRENT_ID, as GitLab Runner numbers them). An adopted job
/// is running already: it counts at once with the concurrent id its pod has, even beyond the limits. Pure. Every step but
/// <see cref="AdmitAll"/> over a queue costs O(log n) or less (per-entry counts and free ids), not a scan of the jobs.
/// </summary>
public sealed class Admission
{
    private int _concurrent;
    private IReadOnlyDictionary<string, int> _limits;
    private readonly List<(long JobId, string Runner)> _waiting = [];
    private readonly Dictionary<long, (string Runner, int ConcurrentId)> _running = [];
    private readonly Dictionary<string, (string Runner, int ConcurrentId)> _reserved = new(StringComparer.Ordinal);
    private readonly HashSet<long> _waitingIds = [];
    private readonly Dictionary<string, Entry> _entries = new(StringComparer.Ordinal);

    /// <summary>One runner entry's slots taken, jobs waiting and concurrent ids in use.</summary>
    private sealed class Entry
    {
        private readonly Dictionary<int, int> _used = []; // id → holders (an adopted job may repeat an id)
        private readonly SortedSet<int> _holes = [];      // free ids below _high
        private int _high;

        public int Taken { get; private set; }
        public int Waiting { get; set; }

        public int TakeLowest()
        {
            var id = _holes.Count > 0 ? _holes.Min : _high;
            Take(id);
            return id;
        }

        public void Take(int id)
        {
            Taken++;
            _used[id] = _used.GetValueOrDefault(id) + 1;
            if (id < _high)
            {
                _holes.Remove(id);
                return;
            }

            for (var free = _high; free < id; free++)
            {
                _holes.Add(free);
            }

            _high = id + 1;
        }

        public void Give(int id)
        {
            Taken--;
            if (_used.TryGetValue(id, out var holders) && holders > 1)
            {
                _used[id] = holders - 1;
                return;
            }

            _used.Remove(id);
            _holes.Add(id);
        }
    }

    private Entry EntryOf(string runner)
    {
        if (!_entries.TryGetValue(runner, out var entry))
        {
            entry = new Entry();
            _entries[runner] = entry;
        }

        return entry;
    }

    public Admission(int concurrent, IReadOnlyDictionary<string, int> limits)
    {
        _concurrent = Math.Max(1, concurrent);
        _limits = limits;
    }

    public int Concurrent => _concurrent;
    public int RunningCount => _running.Count;
    public int ReservedCount => _reserved.Count;

    /// <summary>Slots taken: running jobs and reservations.</summary>
    public int Taken => _running.Count + _reserved.Count;

    /// <summary>Running jobs per runner entry (only entries with at least one).</summary>
    public IReadOnlyDictionary<string, int> RunningPerRunner() =>
        _running.Values.GroupBy(r => r.Runner).ToDictionary(g => g.Key, g => g.Count());

    /// <summary>New <c>concurrent</c> and limits; jobs already running stay.</summary>
    public void UpdateLimits(int concurrent, IReadOnlyDictionary<string, int> limits)
    {
        _concurrent = Math.Max(1, concurrent);
        _limits = limits;
    }

    /// <summary>Counts an adopted job as running with <paramref name="concurrentId"/>, whatever the limits say. False when
    /// the job is already known (waiting or running).</summary>
    public bool Adopt(long jobId, string runner, int concurrentId)
    {
        if (IsKnown(jobId))
        {
            return false;
        }

        _running[jobId] = (runner, concurrentId);
        EntryOf(runner).Take(concurrentId);
        return true;
    }

    public int WaitingCount => _waiting.Count;

    public bool IsKnown(long jobId) => _running.ContainsKey(jobId) || _waitingIds.Contains(jobId);
    public bool IsWaiting(long jobId) => _waitingIds.Contains(jobId);
    public bool IsRunning(long jobId) => _running.ContainsKey(jobId);
    public bool IsReserved(string reservationId) => _reserved.ContainsKey(reservationId);

    public void Enqueue(long jobId, string runner)
    {
        if (!IsKnown(jobId))
        {
            _waiting.Add((jobId, runner));
            _waitingIds.Add(jobId);
            EntryOf(runner).Waiting++;
        }
    }

    /// <summary>Forgets a job, waiting or running; its slot becomes free.</summary>
    public void Remove(long jobId)
    {
        if (_waitingIds.Remove(jobId))
        {
            var at = _waiting.FindIndex(w => w.JobId == jobId);
            EntryOf(_waiting[at].Runner).Waiting--;
            _waiting.RemoveAt(at);
        }

        if (_running.Remove(jobId, out var running))
        {
            EntryOf(running.Runner).Give(running.ConcurrentId);
        }
    }

    /// <summary>Takes a slot for a job of <paramref name="runner"/> not yet received. Waiting jobs go first: no reservation
    /// while one of them fits. Returns the concurrent id the job will have, or null when no slot is free for the entry.</summary>
    public int? TryReserve(string reservationId, string runner)
    {
        if (_reserved.TryGetValue(reservationId, out var existing))
        {
            return existing.ConcurrentId;
        }

        if (!Fits(runner) || _entries.Any(e => e.Value.Waiting > 0 && Fits(e.Key)))
        {
            return null;
        }

        var concurrentId = EntryOf(runner).TakeLowest();
        _reserved[reservationId] = (runner, concurrentId);
        return concurrentId;
    }

    /// <summary>The job received for a reservation runs in its slot, with the reserved concurrent id. Null when the
    /// reservation is unknown (expired or released) or the job is already known.</summary>
    public int? Claim(string reservationId, long jobId)
    {
        if (IsKnown(jobId) || !_reserved.Remove(reservationId, out var reservation))
        {
            return null;
        }

        _running[jobId] = reservation; // the entry's count and id stay taken: the reservation becomes the job
        return reservation.ConcurrentId;
    }

    /// <summary>Gives a reservation's slot back (no job came). False when it was not held.</summary>
    public bool Release(string reservationId)
    {
        if (!_reserved.Remove(reservationId, out var reservation))
        {
            return false;
        }

        EntryOf(reservation.Runner).Give(reservation.ConcurrentId);
        return true;
    }

    /// <summary>Moves every waiting job that now fits to running, in arrival order.</summary>
    public IReadOnlyList<(long JobId, string Runner, int ConcurrentId)> AdmitAll()
    {
        if (_waiting.Count == 0)
        {
            return [];
        }

        var admitted = new List<(long, string, int)>();
        var i = 0;
        while (i < _waiting.Count && Taken < _concurrent)
        {
            var (jobId, runner) = _waiting[i];
            if (!Fits(runner))
            {
                i++;
                continue;
            }

            var entry = EntryOf(runner);
            var concurrentId = entry.TakeLowest();
            entry.Waiting--;
            _waiting.RemoveAt(i);
            _waitingIds.Remove(jobId);
            _running[jobId] = (runner, concurrentId);
            admitted.Add((jobId, runner, concurrentId));
        }

        return admitted;
    }

    private bool Fits(string runner)
    {
        if (Taken >= _concurrent)
        {
            return false;
        }

        var limit = _limits.TryGetValue(runner, out var l) ? l : 0;
        return limit <= 0 || TakenBy(runner) < limit;
    }

    private int TakenBy(string runner) => _entries.TryGetValue(runner, out var entry) ? entry.Taken : 0;
}

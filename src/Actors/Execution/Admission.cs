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
/// is running already: it counts at once with the concurrent id its pod has, even beyond the limits. Pure.
/// </summary>
public sealed class Admission
{
    private int _concurrent;
    private IReadOnlyDictionary<string, int> _limits;
    private readonly List<(long JobId, string Runner)> _waiting = [];
    private readonly Dictionary<long, (string Runner, int ConcurrentId)> _running = [];
    private readonly Dictionary<string, (string Runner, int ConcurrentId)> _reserved = new(StringComparer.Ordinal);

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
        return true;
    }

    public int WaitingCount => _waiting.Count;

    public bool IsKnown(long jobId) => _running.ContainsKey(jobId) || _waiting.Exists(w => w.JobId == jobId);
    public bool IsWaiting(long jobId) => _waiting.Exists(w => w.JobId == jobId);
    public bool IsRunning(long jobId) => _running.ContainsKey(jobId);
    public bool IsReserved(string reservationId) => _reserved.ContainsKey(reservationId);

    public void Enqueue(long jobId, string runner)
    {
        if (!IsKnown(jobId))
        {
            _waiting.Add((jobId, runner));
        }
    }

    /// <summary>Forgets a job, waiting or running; its slot becomes free.</summary>
    public void Remove(long jobId)
    {
        _waiting.RemoveAll(w => w.JobId == jobId);
        _running.Remove(jobId);
    }

    /// <summary>Takes a slot for a job of <paramref name="runner"/> not yet received. Waiting jobs go first: no reservation
    /// while one of them fits. Returns the concurrent id the job will have, or null when no slot is free for the entry.</summary>
    public int? TryReserve(string reservationId, string runner)
    {
        if (_reserved.TryGetValue(reservationId, out var existing))
        {
            return existing.ConcurrentId;
        }

        if (!Fits(runner) || _waiting.Exists(w => Fits(w.Runner)))
        {
            return null;
        }

        var concurrentId = LowestFreeId(runner);
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

        _running[jobId] = reservation;
        return reservation.ConcurrentId;
    }

    /// <summary>Gives a reservation's slot back (no job came). False when it was not held.</summary>
    public bool Release(string reservationId) => _reserved.Remove(reservationId);

    /// <summary>Moves every waiting job that now fits to running, in arrival order.</summary>
    public IReadOnlyList<(long JobId, string Runner, int ConcurrentId)> AdmitAll()
    {
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

            var concurrentId = LowestFreeId(runner);
            _waiting.RemoveAt(i);
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

    private int TakenBy(string runner) =>
        _running.Values.Count(r => r.Runner == runner) + _reserved.Values.Count(r => r.Runner == runner);

    private int LowestFreeId(string runner)
    {
        var used = _running.Values.Concat(_reserved.Values).Where(r => r.Runner == runner).Select(r => r.ConcurrentId).ToHashSet();
        var concurrentId = 0;
        while (used.Contains(concurrentId))
        {
            concurrentId++;
        }

        return concurrentId;
    }
}

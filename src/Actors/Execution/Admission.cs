namespace Scheduler.Actors.Execution;

/// <summary>
/// Which waiting jobs may start, within <c>concurrent</c> (all runners together) and each runner's <c>limit</c>
/// (0 = no limit). Jobs wait in arrival order; a job whose runner is at its limit does not hold back a job of
/// another runner. Each admitted job gets the lowest free concurrent id of its runner (CI_CONCURRENT_ID). An adopted job
/// is running already: it counts at once with the concurrent id its pod has, even beyond the limits. Pure.
/// </summary>
public sealed class Admission
{
    private int _concurrent;
    private IReadOnlyDictionary<string, int> _limits;
    private readonly List<(long JobId, string Runner)> _waiting = [];
    private readonly Dictionary<long, (string Runner, int ConcurrentId)> _running = [];

    public Admission(int concurrent, IReadOnlyDictionary<string, int> limits)
    {
        _concurrent = Math.Max(1, concurrent);
        _limits = limits;
    }

    public int Concurrent => _concurrent;
    public int RunningCount => _running.Count;

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

    /// <summary>Moves every job that now fits from waiting to running, in arrival order.</summary>
    public IReadOnlyList<(long JobId, string Runner, int ConcurrentId)> AdmitAll()
    {
        var admitted = new List<(long, string, int)>();
        var i = 0;
        while (i < _waiting.Count && _running.Count < _concurrent)
        {
            var (jobId, runner) = _waiting[i];
            var limit = _limits.TryGetValue(runner, out var l) ? l : 0;
            var runningForRunner = _running.Values.Count(r => r.Runner == runner);
            if (limit > 0 && runningForRunner >= limit)
            {
                i++;
                continue;
            }

            var used = _running.Values.Where(r => r.Runner == runner).Select(r => r.ConcurrentId).ToHashSet();
            var concurrentId = 0;
            while (used.Contains(concurrentId))
            {
                concurrentId++;
            }

            _waiting.RemoveAt(i);
            _running[jobId] = (runner, concurrentId);
            admitted.Add((jobId, runner, concurrentId));
        }

        return admitted;
    }
}

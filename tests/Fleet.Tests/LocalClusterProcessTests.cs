using Scheduler.Fleet.Tests.Harness;

namespace Scheduler.Fleet.Tests;

/// <summary>The standalone embedded cluster as an operator runs it: SIGTERM stops it (its web host must not swallow the
/// signal) after it has killed its pods' processes.</summary>
public sealed class LocalClusterProcessTests
{
    [Fact]
    public async Task Sigterm_stops_the_standalone_cluster_with_exit_code_0()
    {
        var directory = Directory.CreateTempSubdirectory("scheduler-local-cluster-sigterm-").FullName;
        await using var cluster = await LocalClusterProcess.StartAsync(directory);

        cluster.Process.Signal(ChildProcess.SigTerm);

        Assert.True(await cluster.Process.WaitForExitAsync(TimeSpan.FromSeconds(30)),
            "local-cluster did not stop within 30 s of SIGTERM:\n" + cluster.Process.Tail());
        Assert.Equal(0, cluster.Process.ExitCode);
        Assert.Contains(cluster.Process.Lines, line => line.Contains("stopping; killing every pod's processes", StringComparison.Ordinal));
    }
}

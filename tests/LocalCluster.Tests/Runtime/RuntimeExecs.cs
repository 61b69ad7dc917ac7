using System.Text;
using k8s.Models;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

/// <summary>A pod started on a runtime and awaited Running, and an exec into its "main" container with its output: what the
/// exec tests (the join program, the namespace joiner) share.</summary>
internal static class RuntimeExecs
{
    public static async Task RunningAsync(FakePodHost host, ProcessPodRuntime runtime, V1Pod pod)
    {
        runtime.PodCreated(pod);
        await host.WaitForStatusAsync(pod.Metadata.Name, s => s.Phase == "Running");
    }

    public static async Task<(int ExitCode, string Stdout, string Stderr)> ExecAsync(ProcessPodRuntime runtime, string pod, params string[] command)
    {
        using var stdout = new MemoryStream();
        using var stderr = new MemoryStream();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var code = await runtime.ExecAsync(new ExecRequest("ci", pod, "main", command, false), new ExecStreams(null, stdout, stderr), timeout.Token);
        return (code, Encoding.UTF8.GetString(stdout.ToArray()), Encoding.UTF8.GetString(stderr.ToArray()));
    }
}

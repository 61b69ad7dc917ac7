using System.CommandLine;
using System.Runtime.InteropServices;
using Scheduler.Exec;
using Scheduler.Hosting;

namespace Scheduler.Cli;

/// <summary>
/// <c>scheduler exec [--config FILE] [--kubeconfig FILE] [--artifacts-dir DIR] [--ci-file FILE] [--env K=V]… [--masked K=V]… JOB</c>:
/// runs one job of a .gitlab-ci.yml from the current git repository's HEAD, on the configured cluster or the embedded one.
/// Exit codes: 0 succeeded, 1 failed or canceled, 2 invalid input. Ctrl-C cancels (after_script runs); a second Ctrl-C aborts.
/// </summary>
internal static class ExecCommand
{
    internal static Command Create()
    {
        var job = new Argument<string>("JOB") { Description = "The name of the job in the CI file" };
        var config = new Option<string?>("--config", "-c") { Description = "A config.toml (default: a built-in single runner)" };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "A kubeconfig (default: KUBECONFIG, ~/.kube/config, else the embedded cluster)" };
        var artifactsDir = new Option<string>("--artifacts-dir") { Description = "Where the job's artifact archives go", DefaultValueFactory = _ => "artifacts" };
        var ciFile = new Option<string>("--ci-file") { Description = "The CI file", DefaultValueFactory = _ => ".gitlab-ci.yml" };
        var env = new Option<string[]>("--env", "-e") { Description = "A variable KEY=VALUE (repeatable)", AllowMultipleArgumentsPerToken = false };
        var masked = new Option<string[]>("--masked") { Description = "A masked variable KEY=VALUE, shown as [MASKED] in the trace (repeatable)" };

        var command = new Command("exec", "Run a .gitlab-ci.yml job of the current git repository (its committed HEAD) as a pod");
        command.Arguments.Add(job);
        foreach (var option in new Option[] { config, kubeconfig, artifactsDir, ciFile, env, masked })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, _) =>
        {
            SchedulerActorSystem.ConfigureStderrLogging(Serilog.Events.LogEventLevel.Warning);
            var request = new ExecRequest(
                parse.GetValue(job)!,
                parse.GetValue(ciFile)!,
                parse.GetValue(config),
                parse.GetValue(kubeconfig),
                parse.GetValue(artifactsDir)!,
                parse.GetValue(env) ?? [],
                parse.GetValue(masked) ?? [],
                Directory.GetCurrentDirectory());

            using var graceful = new CancellationTokenSource();
            using var abort = new CancellationTokenSource();
            var interrupts = 0;
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                if (Interlocked.Increment(ref interrupts) == 1)
                {
                    Console.Error.WriteLine("exec: canceling the job (after_script still runs); interrupt again to abort");
                    graceful.Cancel();
                }
                else
                {
                    Console.Error.WriteLine("exec: aborting; deleting the pod");
                    abort.Cancel();
                }
            }

            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            await using var stdout = Console.OpenStandardOutput();
            var console = new ExecConsole(stdout, Console.Error, !Console.IsErrorRedirected);
            return await ExecProgram.RunAsync(request, console, ExecGateways.Create, graceful.Token, abort.Token);
        });
        return command;
    }
}

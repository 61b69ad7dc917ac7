using System.CommandLine;
using System.Runtime.InteropServices;
using Scheduler.Fleet;
using Scheduler.Run;

namespace Scheduler.Cli;

/// <summary>
/// <c>scheduler run --config FILE [--service-account NAME] [--kubeconfig FILE] [--cluster-port N] [--seed ADDR]... [--cluster-hostname H]</c>:
/// serves GitLab until stopped. SIGQUIT stops gracefully (running jobs finish); SIGTERM/SIGINT give running jobs
/// shutdown_timeout (in a fleet: hand the jobs over and leave); a second signal exits
/// at once; SIGHUP reloads the config. Exit codes: 0 stopped, 1 aborted or failed to start, 2 invalid config.
/// </summary>
internal static class RunCommand
{
    internal static Command Create()
    {
        var config = new Option<string>("--config", "-c")
        {
            Description = "The config.toml", DefaultValueFactory = _ => "/etc/gitlab-runner/config.toml",
        };
        var serviceAccount = new Option<string?>("--service-account") { Description = "The service account of job pods (KUBERNETES_SERVICE_ACCOUNT)" };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "A kubeconfig (default: in-cluster, KUBECONFIG, ~/.kube/config, else the embedded cluster)" };

        var hostHelper = new Option<bool>("--host-helper")
        {
            Description = "Pods run this build's `scheduler helper` from the host's filesystem (a standalone `scheduler local-cluster` on this machine)",
        };

        var clusterPort = new Option<int?>("--cluster-port") { Description = "Fleet: this node's cluster port (over [cluster] port; 0 = any free port)" };
        var seed = new Option<string[]>("--seed")
        {
            Description = "Fleet: a seed node, akka.tcp://scheduler@host:port (repeatable; over [cluster] seed_nodes)",
            AllowMultipleArgumentsPerToken = false,
        };
        var clusterHostname = new Option<string?>("--cluster-hostname") { Description = "Fleet: the host name other nodes reach this one at (over [cluster] hostname)" };

        var command = new Command("run", "Serve GitLab: ask for jobs and run each as a Kubernetes pod until stopped");
        command.Options.Add(config);
        command.Options.Add(serviceAccount);
        command.Options.Add(kubeconfig);
        command.Options.Add(hostHelper);
        command.Options.Add(clusterPort);
        command.Options.Add(seed);
        command.Options.Add(clusterHostname);
        command.SetAction(async (parse, _) =>
        {
            using var control = new RunControl();
            using var sigquit = PosixSignalRegistration.Create(PosixSignal.SIGQUIT, context =>
            {
                context.Cancel = true;
                control.RequestQuit();
            });
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, context =>
            {
                context.Cancel = true;
                control.RequestTerminate();
            });
            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, context =>
            {
                context.Cancel = true;
                control.RequestTerminate();
            });
            using var sighup = PosixSignalRegistration.Create(PosixSignal.SIGHUP, context =>
            {
                context.Cancel = true;
                control.RequestReload();
            });
            var kubeconfigPath = parse.GetValue(kubeconfig);
            var request = new RunRequest(parse.GetValue(config)!, parse.GetValue(serviceAccount),
                kubeconfigPath is null ? null : Path.GetFullPath(kubeconfigPath), parse.GetValue(hostHelper),
                new ClusterFlags(parse.GetValue(clusterPort), parse.GetValue(seed) ?? [], parse.GetValue(clusterHostname)));
            return await RunProgram.RunAsync(request, Console.Error, control);
        });
        return command;
    }
}

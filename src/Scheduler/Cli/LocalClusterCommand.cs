using System.Runtime.InteropServices;
using System.CommandLine;
using k8s.Models;
using Scheduler.Hosting;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.Cli;

/// <summary><c>scheduler local-cluster</c>: the embedded Kubernetes as a standalone server.</summary>
internal static class LocalClusterCommand
{
    internal static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1 (0 picks a free one)", DefaultValueFactory = _ => 0 };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "Where to write the kubeconfig (default: <state-dir>/kubeconfig)" };
        var stateDir = new Option<string?>("--state-dir") { Description = "Pods' data, PersistentVolumeClaim directories and the kubeconfig (default: a new temporary directory)" };
        var nodeLabels = new Option<string?>("--node-labels") { Description = "The node's labels: k=v,k2=v2" };
        var nodeTaints = new Option<string?>("--node-taints") { Description = "The node's taints: k[=v]:Effect,…" };
        var missingImages = new Option<string?>("--missing-images") { Description = "Image name globs that fail to pull: GLOB,…" };

        var command = new Command("local-cluster", "Run the embedded single-node Kubernetes on 127.0.0.1 until Ctrl-C or SIGTERM");
        foreach (var option in new Option[] { port, kubeconfig, stateDir, nodeLabels, nodeTaints, missingImages })
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var errors = new List<string>();
            var labels = NodeFlags.ParseLabels(parse.GetValue(nodeLabels), errors);
            var taints = NodeFlags.ParseTaints(parse.GetValue(nodeTaints), errors);
            var missing = NodeFlags.ParseList(parse.GetValue(missingImages));
            if (errors.Count > 0)
            {
                foreach (var error in errors)
                {
                    Console.Error.WriteLine($"scheduler local-cluster: {error}");
                }
                return 2;
            }

            // The API server's web host would take SIGTERM/SIGINT for itself and swallow them: stop on them here.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }

            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            cancellationToken = stop.Token;

            var dir = parse.GetValue(stateDir) ?? Directory.CreateTempSubdirectory("scheduler-local-cluster-").FullName;
            Directory.CreateDirectory(dir);
            await using var server = await EmbeddedCluster.StartAsync(dir, cancellationToken,
                new NodeSettings { Labels = labels, Taints = taints, MissingImages = missing },
                parse.GetValue(port), parse.GetValue(kubeconfig));
            Console.WriteLine($"local-cluster: serving on {server.Url}");
            Console.WriteLine($"local-cluster: kubeconfig written to {server.KubeconfigPath}");
            Console.WriteLine($"local-cluster: try   KUBECONFIG={server.KubeconfigPath} kubectl get pods");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                Console.WriteLine("local-cluster: stopping; killing every pod's processes");
            }
            return 0;
        });
        return command;
    }
}

/// <summary>Parsing of the node flags; errors name the flag and the offending entry.</summary>
internal static class NodeFlags
{
    private static readonly HashSet<string> TaintEffects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

    public static IReadOnlyList<string> ParseList(string? value) =>
        string.IsNullOrWhiteSpace(value) ? [] : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static IReadOnlyDictionary<string, string> ParseLabels(string? value, List<string> errors)
    {
        var labels = new Dictionary<string, string>();
        foreach (var entry in ParseList(value))
        {
            var eq = entry.IndexOf('=');
            if (eq <= 0)
            {
                errors.Add($"--node-labels: \"{entry}\" is not k=v");
                continue;
            }
            labels[entry[..eq]] = entry[(eq + 1)..];
        }
        return labels;
    }

    public static IReadOnlyList<V1Taint> ParseTaints(string? value, List<string> errors)
    {
        var taints = new List<V1Taint>();
        foreach (var entry in ParseList(value))
        {
            var colon = entry.LastIndexOf(':');
            if (colon <= 0 || !TaintEffects.Contains(entry[(colon + 1)..]))
            {
                errors.Add($"--node-taints: \"{entry}\" is not k[=v]:Effect with Effect one of NoSchedule, PreferNoSchedule, NoExecute");
                continue;
            }
            var keyValue = entry[..colon];
            var eq = keyValue.IndexOf('=');
            taints.Add(eq < 0
                ? new V1Taint { Key = keyValue, Effect = entry[(colon + 1)..] }
                : new V1Taint { Key = keyValue[..eq], Value = keyValue[(eq + 1)..], Effect = entry[(colon + 1)..] });
        }
        return taints;
    }
}

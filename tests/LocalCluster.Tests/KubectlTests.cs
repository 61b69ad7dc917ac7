using System.Text.Json.Nodes;
using Xunit.Abstractions;

namespace Scheduler.LocalCluster.Tests;

public sealed class KubectlTests(ITestOutputHelper output)
{
    private const string PodYaml = """
        apiVersion: v1
        kind: Pod
        metadata:
          name: hello
          labels:
            app: hello
        spec:
          containers:
          - name: main
            image: busybox:1.36
            command: ["sh", "-c", "echo hi; sleep 3600"]
        """;

    [Fact]
    public async Task Kubectl_applies_gets_logs_execs_and_deletes_a_pod()
    {
        var kubectl = Kubectl.Find();
        if (kubectl is null)
        {
            output.WriteLine("kubectl is not on PATH; nothing to drive");
            return;
        }
        await using var cluster = await TestCluster.StartAsync();
        var config = cluster.Server.KubeconfigPath;

        var apply = await Kubectl.RunAsync(kubectl, config, PodYaml, "apply", "-f", "-");
        output.WriteLine(apply.ToString());
        Assert.Equal(0, apply.ExitCode);
        Assert.Contains("pod/hello created", apply.Stdout);

        var wait = await Kubectl.RunAsync(kubectl, config, null, "wait", "--for=condition=Ready", "pod/hello", "--timeout=20s");
        output.WriteLine(wait.ToString());
        Assert.Equal(0, wait.ExitCode);

        var get = await Kubectl.RunAsync(kubectl, config, null, "get", "pod", "hello", "-o", "json");
        Assert.Equal(0, get.ExitCode);
        var pod = JsonNode.Parse(get.Stdout)!;
        Assert.Equal("hello", (string?)pod["metadata"]!["name"]);
        Assert.Equal("Running", (string?)pod["status"]!["phase"]);

        var table = await Kubectl.RunAsync(kubectl, config, null, "get", "pods");
        output.WriteLine(table.ToString());
        Assert.Equal(0, table.ExitCode);
        Assert.Contains("hello", table.Stdout);

        var reapply = await Kubectl.RunAsync(kubectl, config, PodYaml.Replace("app: hello", "app: hello\n    tier: web"), "apply", "-f", "-");
        output.WriteLine(reapply.ToString());
        Assert.Equal(0, reapply.ExitCode);
        Assert.Contains("pod/hello configured", reapply.Stdout);

        var describe = await Kubectl.RunAsync(kubectl, config, null, "describe", "pod", "hello");
        output.WriteLine(describe.ToString());
        Assert.Equal(0, describe.ExitCode);
        Assert.Contains("Scheduled", describe.Stdout);

        var logs = await Kubectl.RunAsync(kubectl, config, null, "logs", "hello");
        output.WriteLine(logs.ToString());
        Assert.Equal(0, logs.ExitCode);
        Assert.Contains("main: line 2", logs.Stdout);

        var echo = await Kubectl.RunAsync(kubectl, config, null, "exec", "hello", "--", "echo", "from", "exec");
        output.WriteLine(echo.ToString());
        Assert.Equal(0, echo.ExitCode);
        Assert.Equal("from exec\n", echo.Stdout);

        var cat = await Kubectl.RunAsync(kubectl, config, "piped input\n", "exec", "-i", "hello", "--", "cat");
        output.WriteLine(cat.ToString());
        Assert.Equal(0, cat.ExitCode);
        Assert.Equal("piped input\n", cat.Stdout);

        var exit3 = await Kubectl.RunAsync(kubectl, config, null, "exec", "hello", "--", "sh", "-c", "exit 3");
        output.WriteLine(exit3.ToString());
        Assert.Equal(3, exit3.ExitCode);

        var nodes = await Kubectl.RunAsync(kubectl, config, null, "get", "nodes");
        output.WriteLine(nodes.ToString());
        Assert.Equal(0, nodes.ExitCode);
        Assert.Contains("local-node", nodes.Stdout);

        var delete = await Kubectl.RunAsync(kubectl, config, null, "delete", "pod", "hello", "--wait=true", "--timeout=20s");
        output.WriteLine(delete.ToString());
        Assert.Equal(0, delete.ExitCode);
        Assert.Contains("pod \"hello\" deleted", delete.Stdout);

        var missing = await Kubectl.RunAsync(kubectl, config, null, "get", "pod", "hello");
        Assert.NotEqual(0, missing.ExitCode);
        Assert.Contains("pods \"hello\" not found", missing.Stderr);
    }
}

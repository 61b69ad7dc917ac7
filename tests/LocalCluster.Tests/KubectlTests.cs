using System.Text.Json.Nodes;
using k8s;
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

    [Fact]
    public async Task Kubectl_typed_create_commands_and_server_side_tables_work()
    {
        var kubectl = Kubectl.Find();
        if (kubectl is null)
        {
            output.WriteLine("kubectl is not on PATH; nothing to drive");
            return;
        }
        await using var cluster = await TestCluster.StartAsync();
        var config = cluster.Server.KubeconfigPath;
        async Task<Kubectl.Result> Run(params string[] args)
        {
            var result = await Kubectl.RunAsync(kubectl, config, null, args);
            output.WriteLine($"kubectl {string.Join(' ', args)}\n{result}");
            return result;
        }

        // These commands send protobuf bodies.
        Assert.Equal(0, (await Run("create", "namespace", "ci")).ExitCode);
        Assert.Equal(0, (await Run("create", "secret", "generic", "creds", "-n", "ci", "--from-literal=user=bob")).ExitCode);
        Assert.Equal(0, (await Run("create", "configmap", "settings", "-n", "ci", "--from-literal=mode=fast")).ExitCode);
        Assert.Equal(0, (await Run("create", "serviceaccount", "builder", "-n", "ci")).ExitCode);

        var secret = await cluster.Client.CoreV1.ReadNamespacedSecretAsync("creds", "ci");
        Assert.Equal("bob", System.Text.Encoding.UTF8.GetString(secret.Data["user"]));
        Assert.Equal("Opaque", secret.Type);
        Assert.Equal("fast", (await cluster.Client.CoreV1.ReadNamespacedConfigMapAsync("settings", "ci")).Data["mode"]);

        await cluster.Client.CoreV1.CreateNamespacedPodAsync(TestObjects.Pod("web"), "ci");
        await TestObjects.WaitForPhase(cluster.Client, "web", "Running", "ci");
        var pods = await Run("get", "pods", "-n", "ci");
        Assert.Matches(@"NAME\s+READY\s+STATUS\s+RESTARTS\s+AGE", pods.Stdout);
        Assert.Matches(@"web\s+1/1\s+Running\s+0", pods.Stdout);
        var secrets = await Run("get", "secrets", "-n", "ci");
        Assert.Matches(@"creds\s+Opaque\s+1", secrets.Stdout);

        Assert.Equal(0, (await Run("delete", "namespace", "ci", "--timeout=20s")).ExitCode);
        var namespaces = await Run("get", "namespaces", "-o", "name");
        Assert.DoesNotContain("namespace/ci", namespaces.Stdout);
    }
}

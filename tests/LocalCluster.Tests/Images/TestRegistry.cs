using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Scheduler.LocalCluster.Tests.Images;

/// <summary>
/// Two registries on loopback (Debian's docker-registry: one open, one with htpasswd) holding small images built here
/// without network from the machine's static busybox, and an OCI archive of one image for <c>--load-image</c>. Needs
/// skopeo, umoci, docker-registry, busybox-static and apache2-utils (htpasswd); scripts/test.sh installs them.
/// </summary>
public sealed class TestRegistry : IAsyncLifetime
{
    public const string User = "puller";
    public const string Password = "s3cret-pull";

    private readonly string _root = Directory.CreateTempSubdirectory("scheduler-test-registry-").FullName;
    private readonly List<Process> _registries = [];

    public string OpenHost { get; private set; } = "";
    public string PrivateHost { get; private set; } = "";
    /// <summary>An OCI archive of image A, named <see cref="ArchiveName"/>, in no registry.</summary>
    public string Archive => Path.Combine(_root, "loaded.tar");
    public const string ArchiveName = "example.test/loaded/app:1";
    /// <summary>A <c>docker save</c>-style archive of image B, tagged <see cref="DockerArchiveName"/>.</summary>
    public string DockerArchive => Path.Combine(_root, "docker.tar");
    public const string DockerArchiveName = "example.test/docker/b:1";
    private string OpenLog => Path.Combine(_root, "open.log");

    /// <summary>Image A: busybox, /marker "image-a", its own /etc/os-release, Env FOO=from-image, WorkingDir /work.</summary>
    public string ImageA => $"{OpenHost}/test/a:1";
    /// <summary>Image B: Entrypoint, Cmd, Env and the non-root User app (1000:1000) of its /etc/passwd.</summary>
    public string ImageB => $"{OpenHost}/test/b:1";
    /// <summary>Image C, hostile: /hostetc links to /etc, /loop to itself.</summary>
    public string ImageC => $"{OpenHost}/test/c:1";
    /// <summary>Image A in the registry that needs credentials.</summary>
    public string PrivateImage => $"{PrivateHost}/private/a:1";

    public static string? MissingTools()
    {
        var missing = new[] { "skopeo", "umoci", "docker-registry", "htpasswd", "bwrap" }
            .Where(tool => !File.Exists("/usr/bin/" + tool) && !File.Exists("/usr/sbin/" + tool)).ToList();
        if (!File.Exists("/bin/busybox")) missing.Add("busybox (busybox-static)");
        return missing.Count == 0 ? null
            : $"the image tests need {string.Join(", ", missing)}: apt-get install skopeo umoci docker-registry busybox-static apache2-utils bubblewrap (scripts/test.sh installs them)";
    }

    public async Task InitializeAsync()
    {
        if (MissingTools() is { } missing) throw new InvalidOperationException(missing);
        var layout = Path.Combine(_root, "layout");
        await Tool("umoci", "init", "--layout", layout);
        await BuildImageAsync(layout, "a", rootfs =>
        {
            File.WriteAllText(Path.Combine(rootfs, "marker"), "image-a\n");
            File.WriteAllText(Path.Combine(rootfs, "etc/os-release"), "ID=scheduler-test-a\nNAME=\"Image A\"\n");
        }, ["--config.env", "FOO=from-image", "--config.env", "PATH=/bin", "--config.workingdir", "/work", "--config.cmd", "sh"]);
        await BuildImageAsync(layout, "b", rootfs =>
        {
            File.WriteAllText(Path.Combine(rootfs, "marker"), "image-b\n");
            File.WriteAllText(Path.Combine(rootfs, "etc/os-release"), "ID=scheduler-test-b\n");
            // The user's home is its own (as far as the tests go: writable by it; .NET has no chown).
            Directory.CreateDirectory(Path.Combine(rootfs, "home/app"));
            if (!OperatingSystem.IsWindows()) File.SetUnixFileMode(Path.Combine(rootfs, "home/app"), (UnixFileMode)0b111_111_111);
        }, ["--config.env", "GREETING=hello-from-b", "--config.env", "PATH=/bin", "--config.user", "app",
            "--config.entrypoint", "/bin/sh", "--config.entrypoint", "-c",
            "--config.entrypoint", "echo \"entry:$0:$1 user:$(id -u):$(id -g) dir:$(pwd) greeting:$GREETING\"",
            "--config.cmd", "from-cmd", "--config.cmd", "second"]);

        await BuildImageAsync(layout, "c", rootfs =>
        {
            File.CreateSymbolicLink(Path.Combine(rootfs, "hostetc"), "/etc");
            File.CreateSymbolicLink(Path.Combine(rootfs, "loop"), "/loop");
        }, ["--config.cmd", "sh"]);

        File.WriteAllText(Path.Combine(_root, "htpasswd"), "");
        await Tool("htpasswd", "-bB", Path.Combine(_root, "htpasswd"), User, Password);
        OpenHost = await StartRegistryAsync("open", auth: false);
        PrivateHost = await StartRegistryAsync("private", auth: true);
        await Tool("skopeo", "copy", "--quiet", "--dest-tls-verify=false", $"oci:{layout}:a", $"docker://{ImageA}");
        await Tool("skopeo", "copy", "--quiet", "--dest-tls-verify=false", $"oci:{layout}:b", $"docker://{ImageB}");
        await Tool("skopeo", "copy", "--quiet", "--dest-tls-verify=false", $"oci:{layout}:c", $"docker://{ImageC}");
        await Tool("skopeo", "copy", "--quiet", "--dest-tls-verify=false", "--dest-creds", $"{User}:{Password}", $"oci:{layout}:a", $"docker://{PrivateImage}");
        await Tool("skopeo", "copy", "--quiet", $"oci:{layout}:a", $"oci-archive:{Archive}:{ArchiveName}");
        await Tool("skopeo", "copy", "--quiet", $"oci:{layout}:b", $"docker-archive:{DockerArchive}:{DockerArchiveName}");
    }

    /// <summary>Manifest requests the open registry has served for <paramref name="repository"/> (a pull is one or more).</summary>
    public int ManifestRequests(string repository)
    {
        // The registry writes its access log line after answering: read what is there.
        using var stream = new FileStream(OpenLog, FileMode.Open, FileAccess.Read, FileShare.ReadWrite);
        var text = new StreamReader(stream).ReadToEnd();
        return text.Split('\n').Count(line => line.Contains($"/v2/{repository}/manifests/", StringComparison.Ordinal) && line.Contains("\"GET "));
    }

    private async Task BuildImageAsync(string layout, string tag, Action<string> customise, string[] config)
    {
        await Tool("umoci", "new", "--image", $"{layout}:{tag}");
        var bundle = Path.Combine(_root, "bundle-" + tag);
        await Tool("umoci", "unpack", "--image", $"{layout}:{tag}", bundle);
        var rootfs = Path.Combine(bundle, "rootfs");
        foreach (var dir in new[] { "bin", "etc", "tmp", "work" }) Directory.CreateDirectory(Path.Combine(rootfs, dir));
        File.Copy("/bin/busybox", Path.Combine(rootfs, "bin/busybox"));
        foreach (var applet in new[] { "sh", "ls", "cat", "echo", "id", "env", "sleep", "pwd", "touch", "mkdir", "test", "wget", "httpd", "nc", "true" })
        {
            File.CreateSymbolicLink(Path.Combine(rootfs, "bin", applet), "busybox");
        }
        File.WriteAllText(Path.Combine(rootfs, "etc/passwd"), "root:x:0:0:root:/root:/bin/sh\napp:x:1000:1000:app:/home/app:/bin/sh\n");
        File.WriteAllText(Path.Combine(rootfs, "etc/group"), "root:x:0:\napp:x:1000:\n");
        customise(rootfs);
        await Tool("umoci", "repack", "--image", $"{layout}:{tag}", bundle);
        await Tool("umoci", ["config", "--image", $"{layout}:{tag}", .. config]);
    }

    private async Task<string> StartRegistryAsync(string name, bool auth)
    {
        var port = FreePort();
        var config = new StringBuilder($"""
            version: 0.1
            log:
              level: info
              formatter: text
              accesslog:
                disabled: false
            storage:
              filesystem:
                rootdirectory: {Path.Combine(_root, name + "-data")}
            http:
              addr: 127.0.0.1:{port}

            """);
        if (auth) config.Append($"auth:\n  htpasswd:\n    realm: test\n    path: {Path.Combine(_root, "htpasswd")}\n");
        var configPath = Path.Combine(_root, name + ".yml");
        File.WriteAllText(configPath, config.ToString());
        var log = Path.Combine(_root, name + ".log");
        // The shell sends the registry's output to a file, so that nothing blocks on a full pipe.
        var start = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        start.ArgumentList.Add("-c");
        start.ArgumentList.Add("exec docker-registry serve \"$1\" >\"$2\" 2>&1");
        start.ArgumentList.Add("sh");
        start.ArgumentList.Add(configPath);
        start.ArgumentList.Add(log);
        _registries.Add(Process.Start(start)!);
        using var http = new HttpClient();
        for (var attempt = 0; attempt < 100; attempt++)
        {
            try
            {
                var response = await http.GetAsync($"http://127.0.0.1:{port}/v2/");
                if (response.StatusCode is HttpStatusCode.OK or HttpStatusCode.Unauthorized) return $"127.0.0.1:{port}";
            }
            catch (HttpRequestException)
            {
                // Not listening yet.
            }
            await Task.Delay(100);
        }
        throw new InvalidOperationException($"the {name} registry did not start: {File.ReadAllText(log)}");
    }

    private static int FreePort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        return ((IPEndPoint)listener.LocalEndpoint).Port;
    }

    private static Task Tool(string tool, params string[] args) => Tool(tool, (IEnumerable<string>)args);

    private static async Task Tool(string tool, IEnumerable<string> args)
    {
        var start = new ProcessStartInfo(tool) { RedirectStandardOutput = true, RedirectStandardError = true, UseShellExecute = false };
        foreach (var arg in args) start.ArgumentList.Add(arg);
        using var process = Process.Start(start)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        await process.WaitForExitAsync(timeout.Token);
        if (process.ExitCode != 0) throw new InvalidOperationException($"{tool} {string.Join(' ', args)}: exit {process.ExitCode}: {await stderr}{await stdout}");
    }

    public Task DisposeAsync()
    {
        foreach (var registry in _registries)
        {
            try
            {
                registry.Kill(entireProcessTree: true);
                registry.WaitForExit(5000);
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }
            registry.Dispose();
        }
        try
        {
            Directory.Delete(_root, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: a temp directory.
        }
        return Task.CompletedTask;
    }
}

[CollectionDefinition(Name)]
public sealed class RegistryCollection : ICollectionFixture<TestRegistry>
{
    public const string Name = "registry";
}

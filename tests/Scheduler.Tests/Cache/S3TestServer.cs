using System.Diagnostics;
using System.Text.Json;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Cache;

/// <summary>A real S3-compatible server (s3rver, from tests/tools/s3) on loopback with one bucket, and the requests it
/// answered. s3rver checks request signatures with its fixed key pair <see cref="AccessKey"/>/<see cref="SecretKey"/>.</summary>
public sealed class S3TestServer : IAsyncDisposable
{
    public const string AccessKey = "S3RVER";
    public const string SecretKey = "S3RVER";
    public const string Bucket = "runner-cache";

    private readonly Process _process;
    private readonly TemporaryDirectory _directory;
    private readonly List<(string Method, string Path, int Status)> _requests = [];

    private S3TestServer(Process process, TemporaryDirectory directory, int port)
    {
        _process = process;
        _directory = directory;
        Port = port;
    }

    public int Port { get; }

    /// <summary><c>[runners.cache]</c> for this server.</summary>
    public CacheSettings Settings(bool shared = false, string path = "", long maxUploadedArchiveSize = 0) => new()
    {
        Type = "s3",
        Shared = shared,
        Path = path,
        MaxUploadedArchiveSize = maxUploadedArchiveSize,
        S3 = new S3CacheSettings
        {
            ServerAddress = $"127.0.0.1:{Port}", AccessKey = AccessKey, SecretKey = SecretKey, BucketName = Bucket, Insecure = true,
        },
    };

    /// <summary>The requests answered so far: method, path (<c>/bucket/object</c>) and status.</summary>
    public IReadOnlyList<(string Method, string Path, int Status)> Requests
    {
        get { lock (_requests) { return _requests.ToList(); } }
    }

    /// <summary>The requests answered so far, once one matching <paramref name="expected"/> has been logged (the server
    /// logs each request on its stdout, read in the background, so the line can come after the client's answer); at most
    /// 10 s, then whatever is there.</summary>
    public async Task<IReadOnlyList<(string Method, string Path, int Status)>> RequestsOnceAsync(
        Func<(string Method, string Path, int Status), bool> expected)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!Requests.Any(expected) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }

        return Requests;
    }

    /// <summary>Forgets the requests answered so far (a test sharing the server starts counting from here).</summary>
    public void ClearRequests()
    {
        lock (_requests)
        {
            _requests.Clear();
        }
    }

    /// <summary>The stored objects' names (<c>Path/runner/…/project/…/key</c>).</summary>
    public IReadOnlyList<string> ObjectNames()
    {
        // s3rver keeps each object as <dir>/<bucket>/<name>._S3rver_object.
        var bucket = Path.Combine(_directory.Path, Bucket);
        return Directory.Exists(bucket)
            ? Directory.EnumerateFiles(bucket, "*._S3rver_object", SearchOption.AllDirectories)
                .Select(f => Path.GetRelativePath(bucket, f)[..^"._S3rver_object".Length].Replace('\\', '/')).Order(StringComparer.Ordinal).ToList()
            : [];
    }

    public static async Task<S3TestServer> StartAsync()
    {
        var tool = Path.Combine(RepositoryPaths.Root, "tests", "tools", "s3");
        if (!Directory.Exists(Path.Combine(tool, "node_modules", "s3rver")))
        {
            throw new InvalidOperationException(
                $"the S3 test server is not installed: run `npm ci --prefix tests/tools/s3` (scripts/test.sh does) in {RepositoryPaths.Root}");
        }

        var directory = new TemporaryDirectory();
        var start = new ProcessStartInfo("node") { RedirectStandardOutput = true, RedirectStandardInput = true, RedirectStandardError = true, WorkingDirectory = tool };
        start.ArgumentList.Add("server.js");
        start.ArgumentList.Add(directory.Path);
        start.ArgumentList.Add(Bucket);
        Process process;
        try
        {
            process = Process.Start(start) ?? throw new InvalidOperationException("node did not start");
        }
        catch (System.ComponentModel.Win32Exception e)
        {
            directory.Dispose();
            throw new InvalidOperationException($"the S3 test server needs node on the PATH: {e.Message}", e);
        }

        var first = await process.StandardOutput.ReadLineAsync().WaitAsync(TimeSpan.FromSeconds(30));
        if (first is null)
        {
            var error = await process.StandardError.ReadToEndAsync();
            directory.Dispose();
            throw new InvalidOperationException($"the S3 test server stopped before listening: {error}");
        }

        var server = new S3TestServer(process, directory, JsonDocument.Parse(first).RootElement.GetProperty("port").GetInt32());
        _ = Task.Run(server.ReadRequestsAsync);
        return server;
    }

    private async Task ReadRequestsAsync()
    {
        while (await _process.StandardOutput.ReadLineAsync() is { } line)
        {
            using var json = JsonDocument.Parse(line);
            var root = json.RootElement;
            lock (_requests)
            {
                _requests.Add((root.GetProperty("method").GetString()!, Uri.UnescapeDataString(root.GetProperty("path").GetString()!),
                    root.GetProperty("status").GetInt32()));
            }
        }
    }

    public async ValueTask DisposeAsync()
    {
        try
        {
            _process.StandardInput.Close();
            if (!_process.WaitForExit(5000))
            {
                _process.Kill(entireProcessTree: true);
            }
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }

        _process.Dispose();
        _directory.Dispose();
        await Task.CompletedTask;
    }
}

/// <summary>One S3 server for all tests of a class (starting node takes a second or two).</summary>
public sealed class S3ServerFixture : IAsyncLifetime
{
    public S3TestServer Server { get; private set; } = null!;

    public async Task InitializeAsync() => Server = await S3TestServer.StartAsync();

    public async Task DisposeAsync() => await Server.DisposeAsync();
}

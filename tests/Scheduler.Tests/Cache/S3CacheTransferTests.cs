using System.Net;
using System.Net.Sockets;
using Scheduler.Actors.Scripts;
using Scheduler.Cache;
using Scheduler.Helper;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Cache;

/// <summary>The helper's cache transfers against a real S3 server with URLs the runner signed, and against a server that
/// fails: bounded retries, a 404 is "no cache", a signed URL opens its own object only.</summary>
public sealed class S3CacheTransferTests : IClassFixture<S3ServerFixture>, IDisposable
{
    private const string RunnerToken = "glrt-runnertoken123";
    private readonly TemporaryDirectory _dir = new();
    private readonly S3CacheUrlSource _source = new();
    private readonly HttpClient _http = CacheTransfer.CreateClient(TimeSpan.FromSeconds(30));
    private readonly S3TestServer _s3;

    public S3CacheTransferTests(S3ServerFixture fixture)
    {
        _s3 = fixture.Server;
        _s3.ClearRequests();
    }

    public void Dispose()
    {
        _http.Dispose();
        _source.Dispose();
        _dir.Dispose();
    }

    [Fact]
    public async Task An_archive_uploaded_with_its_PUT_URL_is_restored_with_its_GET_URL()
    {
        var prefix = "ci-" + Guid.NewGuid().ToString("N");
        var urls = Urls(_s3.Settings(path: prefix), "deps/main");
        _dir.Write("a/vendor/lib.txt", "library");
        var output = new StringWriter();
        Assert.Equal(0, await Archive(Path.Combine(_dir.Path, "a"), urls.Upload!, output));
        Assert.Equal([$"{prefix}/runner/{CacheObjectName.ShortToken(RunnerToken)}/project/7/deps/main"],
            _s3.ObjectNames().Where(n => n.StartsWith(prefix, StringComparison.Ordinal)));

        var restored = Directory.CreateDirectory(Path.Combine(_dir.Path, "b")).FullName;
        var extract = new StringWriter();
        Assert.Equal(0, await Extract(restored, urls.Download!, extract, new StringWriter()));
        Assert.Equal("library", File.ReadAllText(Path.Combine(restored, "vendor/lib.txt")));
        // The trace shows where the archive went, never the signature.
        Assert.Contains($"Uploading cache.zip to http://127.0.0.1:{_s3.Port}/{S3TestServer.Bucket}/{prefix}/runner/", output.ToString(), StringComparison.Ordinal);
        Assert.DoesNotContain("X-Amz", output.ToString() + extract, StringComparison.OrdinalIgnoreCase);
    }

    [Fact]
    public async Task A_missing_object_is_no_cache_and_is_not_retried()
    {
        var urls = Urls(_s3.Settings(), "never-written");
        var output = new StringWriter();
        var error = new StringWriter();

        Assert.Equal(1, await Extract(Directory.CreateDirectory(Path.Combine(_dir.Path, "p")).FullName, urls.Download!, output, error));
        Assert.Contains("(404): the key has no cache yet", output.ToString(), StringComparison.Ordinal);
        Assert.Contains("file does not exist", error.ToString(), StringComparison.Ordinal);
        Assert.Single(await _s3.RequestsOnceAsync(r => r.Method == "GET"), r => r.Method == "GET");
    }

    // s3rver checks no V4 signature, so what S3 enforces is asserted on the URLs: SigV4, one object, one method, the
    // job's lifetime; the record's printed form hides them.
    [Fact]
    public void Each_URL_is_signed_for_its_own_object_method_and_the_jobs_lifetime()
    {
        var a = Urls(_s3.Settings(), "k", projectId: 7);
        var b = Urls(_s3.Settings(), "k", projectId: 8);
        var query = System.Web.HttpUtility.ParseQueryString(new Uri(a.Download!).Query);
        Assert.Equal("AWS4-HMAC-SHA256", query["X-Amz-Algorithm"]);
        Assert.Equal((600 + 3600).ToString(System.Globalization.CultureInfo.InvariantCulture), query["X-Amz-Expires"]);
        Assert.StartsWith(S3TestServer.AccessKey + "/", query["X-Amz-Credential"], StringComparison.Ordinal);
        Assert.Equal("host", query["X-Amz-SignedHeaders"]);
        var signatures = new[] { a.Download!, a.Upload!, b.Download!, b.Upload! }
            .Select(u => System.Web.HttpUtility.ParseQueryString(new Uri(u).Query)["X-Amz-Signature"]).ToList();
        Assert.Equal(4, signatures.Distinct().Count());
        Assert.DoesNotContain("X-Amz", a.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task A_redirect_is_not_followed_with_the_archive()
    {
        await using var elsewhere = FlakyServer.Start([200]);
        await using var server = FlakyServer.Start([307], location: elsewhere.Url);
        _dir.Write("a/f.txt", "x");
        var code = await CacheArchiver.RunAsync(Path.Combine(_dir.Path, "a"), Path.Combine(_dir.Path, "c.zip"), ["f.txt"], false, server.Url, _http, 0,
            new StringWriter(), new StringWriter(), TimeSpan.Zero, CancellationToken.None);

        Assert.Equal(1, code);
        Assert.Equal(0, elsewhere.Requests);
    }

    [Fact]
    public async Task An_archive_larger_than_the_limit_stays_local()
    {
        _dir.Write("a/big.bin", new string('x', 10_000));
        var urls = Urls(_s3.Settings(), "big");
        var output = new StringWriter();
        var code = await CacheArchiver.RunAsync(Path.Combine(_dir.Path, "a"), Path.Combine(_dir.Path, "cache.zip"), ["big.bin"], false, urls.Upload, _http,
            50, output, new StringWriter(), TimeSpan.Zero, CancellationToken.None);

        Assert.Equal(0, code);
        Assert.Matches(@"Cache archive size \(\d+\) is too big \(Limit is set to 50\)\. Cache will be stored only locally\.", output.ToString());
        Assert.True(File.Exists(Path.Combine(_dir.Path, "cache.zip")));
        Assert.DoesNotContain(_s3.Requests, r => r.Method == "PUT");
    }

    [Fact]
    public async Task Without_keys_the_AWS_credential_chain_signs()
    {
        // The chain's first source: the environment. Only this test reads these variables.
        Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", S3TestServer.AccessKey);
        Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", S3TestServer.SecretKey);
        try
        {
            var settings = _s3.Settings() with { S3 = _s3.Settings().S3! with { AccessKey = "", SecretKey = "" } };
            var urls = Urls(settings, "chain");
            _dir.Write("a/f.txt", "x");
            Assert.Equal(0, await Archive(Path.Combine(_dir.Path, "a"), urls.Upload!, new StringWriter()));
            Assert.Single(await _s3.RequestsOnceAsync(r => r is { Method: "PUT", Status: 200 }), r => r is { Method: "PUT", Status: 200 });
        }
        finally
        {
            Environment.SetEnvironmentVariable("AWS_ACCESS_KEY_ID", null);
            Environment.SetEnvironmentVariable("AWS_SECRET_ACCESS_KEY", null);
        }
    }

    [Fact]
    public void Without_credentials_anywhere_the_job_gets_a_warning_and_no_URL()
    {
        // Nothing in the chain: no keys, no variables (only this class sets them, and not now), no profile, no instance role.
        var settings = _s3.Settings() with { S3 = _s3.Settings().S3! with { AccessKey = "", SecretKey = "" } };
        var runner = new RunnerEntry { Name = "r", Token = RunnerToken, Cache = settings };
        var urls = _source.For(runner, new JobPayload { JobInfo = new JobInfo { ProjectId = 7 } }, "k");

        Assert.NotNull(urls);
        Assert.Null(urls.Download);
        Assert.Null(urls.Upload);
        Assert.StartsWith("the cache URLs could not be signed (", urls.Warning, StringComparison.Ordinal);
        Assert.DoesNotContain('\n', urls.Warning!);
    }

    [Theory]
    [InlineData(new[] { 503, 503, 200 }, 0, 3)]
    [InlineData(new[] { 503, 500, 502 }, 1, 3)]
    [InlineData(new[] { 429, 200 }, 0, 2)]
    [InlineData(new[] { 403 }, 1, 1)]
    public async Task Uploads_are_retried_on_server_errors_three_times_at_most(int[] statuses, int exitCode, int requests)
    {
        await using var server = FlakyServer.Start(statuses);
        _dir.Write("a/f.txt", "x");
        var error = new StringWriter();
        var code = await CacheArchiver.RunAsync(Path.Combine(_dir.Path, "a"), Path.Combine(_dir.Path, "c.zip"), ["f.txt"], false,
            server.Url + "?X-Amz-Signature=abc", _http, 0, new StringWriter(), error, TimeSpan.Zero, CancellationToken.None);

        Assert.Equal(exitCode, code);
        Assert.Equal(requests, server.Requests);
        Assert.DoesNotContain("X-Amz-Signature", error.ToString(), StringComparison.Ordinal);
    }

    [Theory]
    [InlineData(new[] { 500, 200 }, 0, 2)]
    [InlineData(new[] { 404 }, 1, 1)]
    [InlineData(new[] { 500, 500, 500 }, 1, 3)]
    public async Task Downloads_are_retried_on_server_errors_and_a_404_is_final(int[] statuses, int exitCode, int requests)
    {
        var zip = Path.Combine(_dir.Path, "src.zip");
        _dir.Write("s/f.txt", "from the server");
        Assert.Equal(0, CacheArchiver.Run(Path.Combine(_dir.Path, "s"), zip, ["f.txt"], false, new StringWriter(), new StringWriter()));
        await using var server = FlakyServer.Start(statuses, File.ReadAllBytes(zip));
        var target = Directory.CreateDirectory(Path.Combine(_dir.Path, "t")).FullName;

        var code = await CacheExtractor.RunAsync(target, Path.Combine(_dir.Path, "cache", "c.zip"), server.Url, _http, new StringWriter(),
            new StringWriter(), TimeSpan.Zero, CancellationToken.None);

        Assert.Equal(exitCode, code);
        Assert.Equal(requests, server.Requests);
        Assert.Equal(exitCode == 0, File.Exists(Path.Combine(target, "f.txt")));
    }

    private CacheObjectUrls Urls(CacheSettings cache, string key, long projectId = 7)
    {
        var runner = new RunnerEntry { Name = "r", Token = RunnerToken, Cache = cache };
        var job = new JobPayload { Id = 1, JobInfo = new JobInfo { ProjectId = projectId }, RunnerInfo = new RunnerInfo { Timeout = 600 } };
        var urls = _source.For(runner, job, key)!;
        Assert.Null(urls.Warning);
        return urls;
    }

    private Task<int> Archive(string project, string url, TextWriter output) =>
        CacheArchiver.RunAsync(project, Path.Combine(_dir.Path, "cache", Guid.NewGuid().ToString("N"), "cache.zip"), ["."], false, url, _http, 0,
            output, new StringWriter(), TimeSpan.Zero, CancellationToken.None);

    private Task<int> Extract(string project, string url, TextWriter output, TextWriter error) =>
        CacheExtractor.RunAsync(project, Path.Combine(_dir.Path, "cache", Guid.NewGuid().ToString("N"), "cache.zip"), url, _http, output, error,
            TimeSpan.Zero, CancellationToken.None);

    /// <summary>Answers each request with the next status (the body on a 200 GET).</summary>
    private sealed class FlakyServer : IAsyncDisposable
    {
        private readonly HttpListener _listener = new();
        private readonly Task _loop;
        private int _requests;

        private FlakyServer(int[] statuses, byte[] body, string? location)
        {
            var probe = new TcpListener(IPAddress.Loopback, 0);
            probe.Start();
            var port = ((IPEndPoint)probe.LocalEndpoint).Port;
            probe.Stop();
            Url = $"http://127.0.0.1:{port}/bucket/object";
            _listener.Prefixes.Add($"http://127.0.0.1:{port}/");
            _listener.Start();
            _loop = Task.Run(async () =>
            {
                while (_listener.IsListening)
                {
                    HttpListenerContext context;
                    try
                    {
                        context = await _listener.GetContextAsync();
                    }
                    catch (Exception e) when (e is HttpListenerException or ObjectDisposedException)
                    {
                        return;
                    }

                    var index = Interlocked.Increment(ref _requests) - 1;
                    await context.Request.InputStream.CopyToAsync(Stream.Null);
                    context.Response.StatusCode = statuses[Math.Min(index, statuses.Length - 1)];
                    if (location is not null)
                    {
                        context.Response.RedirectLocation = location;
                    }

                    if (context.Response.StatusCode == 200 && context.Request.HttpMethod == "GET")
                    {
                        await context.Response.OutputStream.WriteAsync(body);
                    }

                    context.Response.Close();
                }
            });
        }

        public string Url { get; }

        public int Requests => Volatile.Read(ref _requests);

        public static FlakyServer Start(int[] statuses, byte[]? body = null, string? location = null) => new(statuses, body ?? [], location);

        public async ValueTask DisposeAsync()
        {
            _listener.Stop();
            _listener.Close();
            await _loop;
        }
    }
}

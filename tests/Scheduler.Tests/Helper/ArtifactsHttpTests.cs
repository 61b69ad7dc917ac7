using System.Net;
using System.Text;
using Scheduler.GitLab;
using Scheduler.Messages.Jobs;

namespace Scheduler.Scheduler.Tests.Helper;

/// <summary><see cref="GitLabArtifacts"/>, the artifact calls the helpers make: an error answer's body is read only up to
/// <see cref="GitLabArtifacts.MaxErrorBodyBytes"/>, so a hostile or broken endpoint cannot make the helper read without end.</summary>
public sealed class ArtifactsHttpTests : IDisposable
{
    private readonly ScriptedHttpServer _gitLab = new();
    private readonly HttpClient _http = GitLabHttp.CreateClient();

    public void Dispose()
    {
        _http.Dispose();
        _gitLab.Dispose();
    }

    private GitLabArtifacts Artifacts()
    {
        Assert.True(GitLabUrl.TryApiBase(_gitLab.Url, out var apiBase, out var error), error);
        return new GitLabArtifacts(_http, apiBase, GitLabArtifacts.UserAgent(new RunnerIdentity("1.2.3", "abcdef12")));
    }

    public static TheoryData<int, string, ArtifactsOutcome, string> ErrorAnswers => new()
    {
        { 500, """{"message":"storage is down"}""", ArtifactsOutcome.Retry, "failed (HTTP 500): storage is down" },
        { 413, """{"message":{"file":["is too large"]}}""", ArtifactsOutcome.TooLarge, "too large (HTTP 413): file: is too large" },
        { 403, "not json", ArtifactsOutcome.Forbidden, "forbidden (HTTP 403)" },
        { 422, "", ArtifactsOutcome.Failed, "failed (HTTP 422)" },
    };

    [Theory]
    [MemberData(nameof(ErrorAnswers))]
    public async Task An_upload_refused_says_why_with_GitLabs_message(int status, string body, ArtifactsOutcome outcome, string message)
    {
        _gitLab.Answer = (context, _) =>
        {
            context.Response.StatusCode = status;
            context.Response.OutputStream.Write(Encoding.UTF8.GetBytes(body));
        };

        var result = await Artifacts().UploadAsync(1, "job-token", new MemoryStream("zip"u8.ToArray()), "artifacts.zip");

        Assert.Equal((outcome, status, message), (result.Outcome, result.StatusCode, result.Message));
        Assert.Equal("scheduler 1.2.3 (abcdef12; dotnet; linux/amd64)", _gitLab.Requests[0].Headers["User-Agent"]);
    }

    [Theory]
    [InlineData("upload")]
    [InlineData("download")]
    public async Task An_error_answer_that_never_ends_is_read_only_up_to_the_bound(string call)
    {
        long sent = 0;
        _gitLab.Answer = (context, _) =>
        {
            context.Response.StatusCode = 503;
            context.Response.SendChunked = true;
            var chunk = Encoding.UTF8.GetBytes("{\"message\":\"" + new string('x', 64 * 1024));
            // Until the client goes away (the server catches the write that fails), or 64 MiB.
            while (sent < 64L * 1024 * 1024)
            {
                context.Response.OutputStream.Write(chunk);
                Interlocked.Add(ref sent, chunk.Length);
            }
        };

        var result = call == "upload"
            ? await Artifacts().UploadAsync(1, "job-token", new MemoryStream("zip"u8.ToArray()), "artifacts.zip")
            : await Artifacts().DownloadAsync(1, "job-token", new MemoryStream());

        // The status still decides (a retry), with no message from the cut body; the server could not send all it wanted.
        Assert.Equal((ArtifactsOutcome.Retry, 503, "failed (HTTP 503)"), (result.Outcome, result.StatusCode, result.Message));
        await Task.Delay(200);
        Assert.True(Interlocked.Read(ref sent) < 64L * 1024 * 1024, $"the server sent {Interlocked.Read(ref sent)} bytes");
    }
}

/// <summary>What the helpers say of a file or archive that failed, and how long they read an error answer.</summary>
public sealed class HelperErrorTextTests
{
    public static TheoryData<Exception, string> Failures => new()
    {
        { new FileNotFoundException("IO_FileNotFound_FileName, /run/token", "/run/token"), "no such file /run/token" },
        { new DirectoryNotFoundException("IO_PathNotFound_Path, /x/y"), "no such directory" },
        { new UnauthorizedAccessException("UnauthorizedAccess_IODenied_Path, /x"), "permission denied" },
        { new InvalidDataException("EOCDNotFound"), "not a zip archive, or a damaged one" },
        // An error of the system's keeps its own words.
        { new IOException("No space left on device"), "No space left on device" },
    };

    [Theory]
    [MemberData(nameof(Failures))]
    public void A_failure_is_described_in_words_not_resource_keys(Exception failure, string text) =>
        Assert.Equal(text, global::Scheduler.Helper.HelperArguments.Describe(failure));

    [Fact]
    public async Task An_error_body_that_stops_coming_is_given_up_after_its_time()
    {
        using var response = new HttpResponseMessage(HttpStatusCode.BadGateway) { Content = new StreamContent(new StalledStream()) };

        var started = System.Diagnostics.Stopwatch.StartNew();
        var body = await GitLabArtifacts.ErrorBodyAsync(response, CancellationToken.None, TimeSpan.FromMilliseconds(200))
            .WaitAsync(TimeSpan.FromSeconds(20));

        Assert.Equal("", body);
        Assert.True(started.Elapsed >= TimeSpan.FromMilliseconds(150), $"gave up after {started.Elapsed}");
    }

    // A body whose first bytes never come (a proxy that sent the headers and stalled): reads wait until canceled.
    private sealed class StalledStream : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => throw new NotSupportedException();
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();

        public override async ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken cancellationToken = default)
        {
            await Task.Delay(Timeout.Infinite, cancellationToken);
            return 0;
        }
    }
}

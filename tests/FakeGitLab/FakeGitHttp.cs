using System.Diagnostics;
using System.Text;
using Microsoft.AspNetCore.Http;

namespace Scheduler.FakeGitLab;

/// <summary>GitLab's Git smart HTTP for the fake: bare repositories under <see cref="Root"/>, served by git's own
/// <c>git http-backend</c> (CGI). As GitLab, a repository answers only to Basic credentials <c>gitlab-ci-token</c> plus the
/// token of a running job (401 with a Basic challenge otherwise), so a test sees the job token reach git.</summary>
public sealed class FakeGitHttp : IDisposable
{
    private readonly Func<string, bool> _isRunningJobToken;
    private readonly List<string> _authorizedPaths = [];

    internal FakeGitHttp(Func<string, bool> isRunningJobToken)
    {
        _isRunningJobToken = isRunningJobToken;
        Root = Directory.CreateTempSubdirectory("fake-gitlab-git-").FullName;
    }

    /// <summary>Holds <c>&lt;project path&gt;.git</c> bare repositories.</summary>
    public string Root { get; }

    /// <summary>Request paths that were served with valid credentials, in order.</summary>
    public IReadOnlyList<string> AuthorizedPaths { get { lock (_authorizedPaths) { return _authorizedPaths.ToArray(); } } }

    /// <summary>Makes an empty bare repository for <paramref name="projectPath"/> (e.g. <c>test/project</c>) and returns its
    /// directory, to push to.</summary>
    public string CreateRepository(string projectPath)
    {
        var path = Path.Combine(Root, projectPath + ".git");
        Directory.CreateDirectory(path);
        using var git = Process.Start(new ProcessStartInfo("git", ["init", "-q", "--bare", "-b", "main", path]) { UseShellExecute = false })!;
        git.WaitForExit();
        if (git.ExitCode != 0)
        {
            throw new InvalidOperationException($"git init --bare {path} failed");
        }

        return path;
    }

    private const string LfsBatch = "/info/lfs/objects/batch";
    private const string LfsObjects = "/gitlab-lfs/objects/";

    internal static bool IsGitPath(PathString path) =>
        path.Value is { } value && value.Contains(".git/", StringComparison.Ordinal)
        && (value.EndsWith("/info/refs", StringComparison.Ordinal) || value.EndsWith("/git-upload-pack", StringComparison.Ordinal)
            || value.EndsWith(LfsBatch, StringComparison.Ordinal) || value.Contains(LfsObjects, StringComparison.Ordinal));

    /// <summary>Stores an LFS object for <paramref name="projectPath"/> and returns the pointer file to commit in its place.</summary>
    public string AddLfsObject(string projectPath, byte[] content)
    {
        var oid = Convert.ToHexStringLower(System.Security.Cryptography.SHA256.HashData(content));
        var directory = Path.Combine(Root, projectPath + ".git", "lfs-objects");
        Directory.CreateDirectory(directory);
        File.WriteAllBytes(Path.Combine(directory, oid), content);
        return $"version https://git-lfs.github.com/spec/v1\noid sha256:{oid}\nsize {content.Length}\n";
    }

    internal async Task ServeAsync(HttpContext context)
    {
        if (!Authorized(context.Request.Headers.Authorization.ToString()))
        {
            context.Response.StatusCode = 401;
            context.Response.Headers.WWWAuthenticate = "Basic realm=\"GitLab\"";
            return;
        }

        var path = context.Request.Path.Value!;
        if (path.Contains("..", StringComparison.Ordinal))
        {
            context.Response.StatusCode = 404;
            return;
        }

        lock (_authorizedPaths)
        {
            _authorizedPaths.Add(path);
        }

        if (path.EndsWith(LfsBatch, StringComparison.Ordinal))
        {
            await LfsBatchAsync(context, path[..^LfsBatch.Length]);
            return;
        }

        if (path.IndexOf(LfsObjects, StringComparison.Ordinal) is var at and >= 0)
        {
            var file = Path.Combine(Root, path[1..at].TrimStart('/'), "lfs-objects", path[(at + LfsObjects.Length)..]);
            if (!File.Exists(file))
            {
                context.Response.StatusCode = 404;
                return;
            }

            context.Response.ContentType = "application/octet-stream";
            await context.Response.Body.WriteAsync(await File.ReadAllBytesAsync(file, context.RequestAborted), context.RequestAborted);
            return;
        }

        var start = new ProcessStartInfo("git", ["http-backend"])
        {
            UseShellExecute = false, RedirectStandardInput = true, RedirectStandardOutput = true, RedirectStandardError = true,
        };
        start.Environment["GIT_PROJECT_ROOT"] = Root;
        start.Environment["GIT_HTTP_EXPORT_ALL"] = "1";
        start.Environment["PATH_INFO"] = path;
        start.Environment["REQUEST_METHOD"] = context.Request.Method;
        start.Environment["QUERY_STRING"] = context.Request.QueryString.Value?.TrimStart('?') ?? "";
        start.Environment["CONTENT_TYPE"] = context.Request.ContentType ?? "";
        start.Environment["REMOTE_USER"] = "gitlab-ci-token";
        start.Environment["REMOTE_ADDR"] = "127.0.0.1";
        if (context.Request.Headers.ContentEncoding.ToString() is { Length: > 0 } encoding)
        {
            start.Environment["HTTP_CONTENT_ENCODING"] = encoding;
        }

        if (context.Request.Headers["Git-Protocol"].ToString() is { Length: > 0 } protocol)
        {
            start.Environment["GIT_PROTOCOL"] = protocol;
        }

        using var backend = Process.Start(start)!;
        var errors = backend.StandardError.ReadToEndAsync();
        await context.Request.Body.CopyToAsync(backend.StandardInput.BaseStream, context.RequestAborted);
        backend.StandardInput.Close();

        // CGI: header lines up to an empty line, then the body.
        var output = backend.StandardOutput.BaseStream;
        var header = new MemoryStream();
        var buffer = new byte[1];
        while (await output.ReadAsync(buffer, context.RequestAborted) == 1)
        {
            header.WriteByte(buffer[0]);
            var bytes = header.GetBuffer().AsSpan(0, (int)header.Length);
            if (bytes.EndsWith("\r\n\r\n"u8) || bytes.EndsWith("\n\n"u8))
            {
                break;
            }
        }

        foreach (var line in Encoding.ASCII.GetString(header.ToArray()).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var colon = line.IndexOf(':');
            if (colon <= 0)
            {
                continue;
            }

            var (name, value) = (line[..colon].Trim(), line[(colon + 1)..].Trim());
            if (name.Equals("Status", StringComparison.OrdinalIgnoreCase))
            {
                context.Response.StatusCode = int.Parse(value.Split(' ')[0], System.Globalization.CultureInfo.InvariantCulture);
            }
            else
            {
                context.Response.Headers[name] = value;
            }
        }

        await output.CopyToAsync(context.Response.Body, context.RequestAborted);
        await backend.WaitForExitAsync(context.RequestAborted);
        await errors;
    }

    // The LFS batch API (download only), as GitLab answers it: each known object with a download action on this server
    // that carries the caller's credentials.
    private async Task LfsBatchAsync(HttpContext context, string repositoryPath)
    {
        var request = await System.Text.Json.Nodes.JsonNode.ParseAsync(context.Request.Body, cancellationToken: context.RequestAborted);
        var objects = new System.Text.Json.Nodes.JsonArray();
        var baseUrl = $"{context.Request.Scheme}://{context.Request.Host}{repositoryPath}";
        foreach (var item in request?["objects"]?.AsArray() ?? [])
        {
            var oid = item?["oid"]?.GetValue<string>() ?? "";
            var size = item?["size"]?.GetValue<long>() ?? 0;
            var known = oid.Length == 64 && oid.All(char.IsAsciiHexDigitLower)
                        && File.Exists(Path.Combine(Root, repositoryPath.TrimStart('/'), "lfs-objects", oid));
            objects.Add(known
                ? new System.Text.Json.Nodes.JsonObject
                {
                    ["oid"] = oid, ["size"] = size, ["authenticated"] = true,
                    ["actions"] = new System.Text.Json.Nodes.JsonObject
                    {
                        ["download"] = new System.Text.Json.Nodes.JsonObject
                        {
                            ["href"] = baseUrl + LfsObjects + oid,
                            ["header"] = new System.Text.Json.Nodes.JsonObject { ["Authorization"] = context.Request.Headers.Authorization.ToString() },
                        },
                    },
                }
                : new System.Text.Json.Nodes.JsonObject
                {
                    ["oid"] = oid, ["size"] = size,
                    ["error"] = new System.Text.Json.Nodes.JsonObject { ["code"] = 404, ["message"] = "Object does not exist" },
                });
        }

        context.Response.ContentType = "application/vnd.git-lfs+json";
        await context.Response.WriteAsync(new System.Text.Json.Nodes.JsonObject { ["transfer"] = "basic", ["objects"] = objects }.ToJsonString(),
            context.RequestAborted);
    }

    private bool Authorized(string header)
    {
        if (!header.StartsWith("Basic ", StringComparison.Ordinal))
        {
            return false;
        }

        string decoded;
        try
        {
            decoded = Encoding.UTF8.GetString(Convert.FromBase64String(header["Basic ".Length..].Trim()));
        }
        catch (FormatException)
        {
            return false;
        }

        var colon = decoded.IndexOf(':');
        return colon > 0 && decoded[..colon] == "gitlab-ci-token" && _isRunningJobToken(decoded[(colon + 1)..]);
    }

    public void Dispose()
    {
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
            // A temp directory: best effort.
        }
    }
}

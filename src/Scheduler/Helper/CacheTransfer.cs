using System.Net;

namespace Scheduler.Helper;

/// <summary>How a cache download ended: the archive is in place, the object does not exist (no cache for the key yet),
/// or the transfer failed.</summary>
public enum CacheDownload
{
    Downloaded,
    NotFound,
    Failed,
}

/// <summary>
/// Moves cache archives to and from the distributed cache over plain HTTP with the pre-signed URLs the runner made (the
/// helper never holds the storage's credentials). As GitLab Runner: 3 attempts, retried on server errors, 408, 429 and
/// network faults; a 404 on download means "no cache". Messages name the URL without its query, where the signature is.
/// </summary>
public static class CacheTransfer
{
    public const int MaxAttempts = 3;

    /// <summary>An HTTP client for one helper command: <paramref name="timeout"/> for the whole transfer, no redirects (a
    /// pre-signed URL names its object; a redirect elsewhere is not followed with it).</summary>
    public static HttpClient CreateClient(TimeSpan timeout) =>
        new(new SocketsHttpHandler { AllowAutoRedirect = false, ConnectTimeout = TimeSpan.FromSeconds(30) }) { Timeout = timeout };

    /// <summary>The URL as traces may show it: scheme, host and path, without the query.</summary>
    public static string CleanUrl(string url) =>
        Uri.TryCreate(url, UriKind.Absolute, out var uri) ? uri.GetLeftPart(UriPartial.Path) : "(an invalid URL)";

    /// <summary>Downloads <paramref name="url"/> into <paramref name="file"/> (through a temporary file, so a broken transfer
    /// never leaves half an archive).</summary>
    public static async Task<CacheDownload> DownloadAsync(HttpClient http, string url, string file, TextWriter output, TextWriter error,
        TimeSpan retryDelay, CancellationToken cancellationToken)
    {
        output.WriteLine($"Downloading {Path.GetFileName(file)} from {CleanUrl(url)}");
        Directory.CreateDirectory(Path.GetDirectoryName(Path.GetFullPath(file))!);
        var partial = file + ".part";
        for (var attempt = 1; ; attempt++)
        {
            string problem;
            bool retry;
            try
            {
                using var response = await http.GetAsync(url, HttpCompletionOption.ResponseHeadersRead, cancellationToken);
                if (response.StatusCode == HttpStatusCode.NotFound)
                {
                    output.WriteLine($"No cache at {CleanUrl(url)} (404): the key has no cache yet");
                    return CacheDownload.NotFound;
                }

                if (response.IsSuccessStatusCode)
                {
                    await using (var target = new FileStream(partial, FileMode.Create, FileAccess.Write))
                    {
                        await response.Content.CopyToAsync(target, cancellationToken);
                    }

                    File.Move(partial, file, overwrite: true);
                    output.WriteLine($"Downloaded {Path.GetFileName(file)} ({new FileInfo(file).Length} bytes)");
                    return CacheDownload.Downloaded;
                }

                problem = $"{(int)response.StatusCode} {response.ReasonPhrase}";
                retry = IsTransient(response.StatusCode);
            }
            catch (Exception e) when (e is HttpRequestException or IOException || e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                problem = e is TaskCanceledException ? "timed out" : e.Message;
                retry = true;
            }

            TryDelete(partial);
            if (!retry || attempt >= MaxAttempts)
            {
                error.WriteLine($"ERROR: downloading the cache from {CleanUrl(url)} failed: {problem} (attempt {attempt})");
                return CacheDownload.Failed;
            }

            error.WriteLine($"WARNING: downloading the cache from {CleanUrl(url)} failed: {problem} (attempt {attempt}); retrying");
            await Task.Delay(retryDelay * attempt, cancellationToken);
        }
    }

    /// <summary>Uploads <paramref name="file"/> with a PUT to <paramref name="url"/>; true when the server took it.</summary>
    public static async Task<bool> UploadAsync(HttpClient http, string url, string file, TextWriter output, TextWriter error,
        TimeSpan retryDelay, CancellationToken cancellationToken)
    {
        output.WriteLine($"Uploading {Path.GetFileName(file)} to {CleanUrl(url)}");
        for (var attempt = 1; ; attempt++)
        {
            string problem;
            bool retry;
            try
            {
                await using var source = new FileStream(file, FileMode.Open, FileAccess.Read);
                using var content = new StreamContent(source);
                content.Headers.ContentType = new System.Net.Http.Headers.MediaTypeHeaderValue("application/octet-stream");
                content.Headers.ContentLength = source.Length;
                content.Headers.LastModified = File.GetLastWriteTimeUtc(file);
                using var response = await http.PutAsync(url, content, cancellationToken);
                if (response.IsSuccessStatusCode)
                {
                    output.WriteLine($"Uploaded {Path.GetFileName(file)} ({new FileInfo(file).Length} bytes)");
                    return true;
                }

                problem = $"{(int)response.StatusCode} {response.ReasonPhrase}";
                retry = IsTransient(response.StatusCode);
            }
            catch (Exception e) when (e is HttpRequestException || e is TaskCanceledException && !cancellationToken.IsCancellationRequested)
            {
                problem = e is TaskCanceledException ? "timed out" : e.Message;
                retry = true;
            }

            if (!retry || attempt >= MaxAttempts)
            {
                error.WriteLine($"ERROR: uploading the cache to {CleanUrl(url)} failed: {problem} (attempt {attempt})");
                return false;
            }

            error.WriteLine($"WARNING: uploading the cache to {CleanUrl(url)} failed: {problem} (attempt {attempt}); retrying");
            await Task.Delay(retryDelay * attempt, cancellationToken);
        }
    }

    /// <summary>The URL in <paramref name="urlFile"/> (the job Secret's file: the URL is on no command line), or the
    /// <paramref name="url"/> given directly; null with a reason when neither gives an absolute http(s) URL.</summary>
    public static string? ReadUrl(string? url, string? urlFile, out string problem)
    {
        problem = "";
        if (!string.IsNullOrEmpty(urlFile))
        {
            try
            {
                url = File.ReadAllText(urlFile).Trim();
            }
            catch (Exception e) when (e is IOException or UnauthorizedAccessException)
            {
                problem = $"cannot read the URL file {urlFile}: {e.Message}";
                return null;
            }
        }

        if (string.IsNullOrEmpty(url))
        {
            return null;
        }

        if (!Uri.TryCreate(url, UriKind.Absolute, out var uri) || (uri.Scheme != Uri.UriSchemeHttp && uri.Scheme != Uri.UriSchemeHttps))
        {
            problem = "the cache URL is not an absolute http(s) URL";
            return null;
        }

        return url;
    }

    private static bool IsTransient(HttpStatusCode status) =>
        (int)status >= 500 || status is HttpStatusCode.RequestTimeout or HttpStatusCode.TooManyRequests;

    private static void TryDelete(string path)
    {
        try
        {
            File.Delete(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // A leftover .part file is overwritten by the next attempt.
        }
    }
}

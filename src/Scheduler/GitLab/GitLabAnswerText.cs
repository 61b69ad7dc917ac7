using System.Text.Json;

namespace Scheduler.GitLab;

/// <summary>What the runner reads out of a GitLab answer besides its status: the <c>{"message": ...}</c> of an error body and
/// the <c>Retry-After</c> header, and which exceptions of a call are network errors. Shared by <see cref="GitLabClient"/> and
/// <see cref="GitLabArtifacts"/> (which the native pod helper links), so it uses <see cref="JsonDocument"/>, no reflection.</summary>
public static class GitLabAnswerText
{
    /// <summary><c>"fallback (HTTP status): message"</c>, or without the message when the body has none; never the request,
    /// so never a token.</summary>
    public static string Message(int status, string body, string fallback)
    {
        var text = ExtractMessage(body);
        return text is null ? $"{fallback} (HTTP {status})" : $"{fallback} (HTTP {status}): {text}";
    }

    /// <summary>GitLab's <c>message</c> field flattened (a string, or an object of field errors), or null.</summary>
    public static string? ExtractMessage(string body)
    {
        // Only an object can hold a message; most answers (an empty 200, "200") are not one, and parsing them would throw.
        if (!body.AsSpan().TrimStart().StartsWith("{", StringComparison.Ordinal))
        {
            return null;
        }

        try
        {
            using var document = JsonDocument.Parse(body);
            if (document.RootElement.ValueKind != JsonValueKind.Object
                || !document.RootElement.TryGetProperty("message", out var message))
            {
                return null;
            }

            return message.ValueKind switch
            {
                JsonValueKind.String => message.GetString(),
                JsonValueKind.Object => string.Join("; ", message.EnumerateObject().Select(field =>
                    field.Value.ValueKind == JsonValueKind.Array
                        ? $"{field.Name}: {string.Join(", ", field.Value.EnumerateArray().Select(e => e.ToString()))}"
                        : $"{field.Name}: {field.Value}")),
                _ => message.ToString(),
            };
        }
        catch (JsonException)
        {
            return null;
        }
    }

    /// <summary>The wait the answer's <c>Retry-After</c> asks for (seconds or a date), or null.</summary>
    public static TimeSpan? RetryAfter(HttpResponseMessage message) => message.Headers.RetryAfter switch
    {
        { Delta: { } delta } => delta,
        { Date: { } date } => date - DateTimeOffset.UtcNow,
        _ => null,
    };

    /// <summary>Only the caller's own cancellation propagates; a timeout of the HttpClient is a network error.</summary>
    public static bool IsNetworkError(Exception ex, CancellationToken cancellationToken) =>
        ex is HttpRequestException or IOException or InvalidOperationException
        || (ex is OperationCanceledException && !cancellationToken.IsCancellationRequested);
}

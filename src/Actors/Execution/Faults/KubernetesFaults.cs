using System.Net;
using System.Net.Sockets;
using System.Net.WebSockets;
using k8s.Autorest;

namespace Scheduler.Actors.Execution.Faults;

/// <summary>What a failed Kubernetes call means for the actor that made it.</summary>
public enum FaultKind
{
    /// <summary>Worth another try: 429, 5xx, 408, a timeout, a reset or refused connection.</summary>
    Transient,

    /// <summary>The server said no for good (4xx other than 408/409/429, a validation error): fail now.</summary>
    Permanent,

    /// <summary>The call was cancelled because its actor stopped: nobody is waiting for the answer.</summary>
    Stopped,
}

/// <summary>
/// Tells the faults of a Kubernetes call apart (pure). A cancelled call counts as <see cref="FaultKind.Stopped"/> only when the
/// actor's own token was cancelled; an <see cref="OperationCanceledException"/> without it is the client's timeout, which is
/// transient. 409 Conflict is not classified here: what it means depends on the call (a create finds the existing object,
/// a conditional update lost a race).
/// </summary>
public static class KubernetesFaults
{
    public static FaultKind Classify(Exception error, CancellationToken actorToken)
    {
        // Once the actor stopped, whatever the call threw, nobody waits for it.
        if (actorToken.IsCancellationRequested)
        {
            return FaultKind.Stopped;
        }

        var e = Unwrap(error);
        if (e is OperationCanceledException)
        {
            return FaultKind.Transient;
        }

        if (HttpError(e) is { } http)
        {
            return IsTransientStatus(http.Response?.StatusCode) ? FaultKind.Transient : FaultKind.Permanent;
        }

        return e switch
        {
            TimeoutException or HttpRequestException or IOException or SocketException or WebSocketException => FaultKind.Transient,
            ExecConnectionLostException => FaultKind.Transient,
            k8s.KubernetesException { Status.Code: { } code } => IsTransientStatus((HttpStatusCode)code) ? FaultKind.Transient : FaultKind.Permanent,
            _ => FaultKind.Permanent,
        };
    }

    /// <summary>The HTTP status that <paramref name="error"/> carries (itself or an exception it wraps), if any.</summary>
    public static HttpStatusCode? StatusOf(Exception error) => HttpError(Unwrap(error))?.Response?.StatusCode;

    // The gateway wraps some answers (an exec refused with 500) in its own exception: the status inside decides.
    private static HttpOperationException? HttpError(Exception e)
    {
        for (var current = e; current is not null; current = current.InnerException)
        {
            if (current is HttpOperationException http)
            {
                return http;
            }
        }

        return null;
    }

    /// <summary>429, 408 and every 5xx are worth another try.</summary>
    public static bool IsTransientStatus(HttpStatusCode? status) =>
        status is HttpStatusCode.TooManyRequests or HttpStatusCode.RequestTimeout || (int?)status >= 500;

    /// <summary>The server's Retry-After (seconds or a date), when it sent one.</summary>
    public static TimeSpan? RetryAfter(Exception error)
    {
        if (HttpError(Unwrap(error)) is not { Response: { } response })
        {
            return null;
        }

        if (!response.Headers.TryGetValue("Retry-After", out var values))
        {
            return null;
        }

        var text = values.FirstOrDefault()?.Trim();
        if (int.TryParse(text, out var seconds) && seconds >= 0)
        {
            return TimeSpan.FromSeconds(seconds);
        }

        return DateTimeOffset.TryParse(text, out var when) && when > DateTimeOffset.UtcNow ? when - DateTimeOffset.UtcNow : null;
    }

    /// <summary>One line for a trace or a log: the status code and the server's message, or the exception's message.</summary>
    public static string Describe(Exception error)
    {
        var e = Unwrap(error);
        if (e is not HttpOperationException && HttpError(e) is not null)
        {
            return e.Message; // the wrapper's message already names the call and the status
        }

        return e switch
        {
            HttpOperationException { Response: { } response } http =>
                $"{(int)response.StatusCode} {response.StatusCode}{(string.IsNullOrWhiteSpace(response.Content) ? "" : ": " + Shorten(response.Content))}"
                + (http.Message.Length > 0 && string.IsNullOrWhiteSpace(response.Content) ? $" ({http.Message})" : ""),
            OperationCanceledException => "the request timed out",
            _ => e.Message,
        };
    }

    /// <summary>All the text an error carries (its description and every message down its inner exceptions), for matching
    /// <c>retry_limits</c> fragments as GitLab Runner matches them against the error's text.</summary>
    public static string Text(Exception error)
    {
        var parts = new List<string> { Describe(error) };
        for (Exception? current = error; current is not null; current = current.InnerException)
        {
            parts.Add(current.Message);
        }

        return string.Join("\n", parts);
    }

    private static Exception Unwrap(Exception e)
    {
        while (e is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            e = aggregate.InnerExceptions[0];
        }

        return e;
    }

    private static string Shorten(string text)
    {
        text = StatusMessage(text) ?? text.Trim();
        return text.Length <= 300 ? text : text[..300] + "…";
    }

    // The API server answers errors with a metav1.Status: its message is the readable part.
    private static string? StatusMessage(string content)
    {
        if (!content.TrimStart().StartsWith('{'))
        {
            return null;
        }

        try
        {
            return k8s.KubernetesJson.Deserialize<k8s.Models.V1Status>(content)?.Message is { Length: > 0 } message ? message : null;
        }
        catch (System.Text.Json.JsonException)
        {
            return null;
        }
    }
}

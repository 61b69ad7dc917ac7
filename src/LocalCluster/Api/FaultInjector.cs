using System.Globalization;
using System.Text.Json.Nodes;
using Scheduler.LocalCluster.Resources;

namespace Scheduler.LocalCluster.Api;

/// <summary>What to do to one request: serve it, answer it with a Status error, or hold it without an answer first.</summary>
internal abstract record RequestFault
{
    private RequestFault() { }

    /// <summary>Answer with this error instead of serving the request.</summary>
    public sealed record Fail(ApiException Error) : RequestFault;

    /// <summary>Hold the request this long without answering (the request is not served), then answer 504.</summary>
    public sealed record Hang(TimeSpan For) : RequestFault;
}

/// <summary>Decides, from the current <see cref="FaultSettings"/>, which requests fail; deterministic with a seed.</summary>
internal sealed class FaultInjector
{
    private readonly Lock _gate = new();
    private FaultSettings _settings = FaultSettings.None;
    private Random _random = new();

    public InjectedFaults Injected { get; } = new();

    public FaultSettings Settings
    {
        get { lock (_gate) return _settings; }
        set
        {
            lock (_gate)
            {
                _settings = value;
                _random = value.Seed is { } seed ? new Random(seed) : new Random();
            }
        }
    }

    /// <summary>The fault for this request, or null to serve it. One draw per request decides among 500, 429 and a hang, so
    /// that with a seed the same sequence of requests meets the same faults.</summary>
    public RequestFault? DrawRequestFault(string method, string path)
    {
        var fault = Draw();
        switch (fault)
        {
            case RequestFault.Fail fail:
                Injected.Record(fail.Error.Code, method, path);
                break;
            case RequestFault.Hang hang:
                Injected.RecordHang(hang.For, method, path);
                break;
        }
        return fault;
    }

    private RequestFault? Draw()
    {
        lock (_gate)
        {
            var s = _settings;
            if (s.ServerErrorRate <= 0 && s.ThrottleRate <= 0 && s.HangRate <= 0) return null;
            var draw = _random.NextDouble();
            if (draw < s.ServerErrorRate)
                return new RequestFault.Fail(new ApiException(500, "InternalError", "Internal error occurred: injected fault")
                {
                    Details = new JsonObject { ["causes"] = new JsonArray(new JsonObject { ["message"] = "injected fault" }) },
                });
            if (draw < s.ServerErrorRate + s.ThrottleRate)
                return new RequestFault.Fail(new ApiException(429, "TooManyRequests", "Too many requests, please try again later.")
                {
                    RetryAfterSeconds = s.RetryAfterSeconds,
                    Details = new JsonObject { ["retryAfterSeconds"] = s.RetryAfterSeconds },
                });
            if (draw < s.ServerErrorRate + s.ThrottleRate + s.HangRate)
                return new RequestFault.Hang(s.HangFor);
            return null;
        }
    }

    /// <summary>What kube-apiserver answers when a request outlives its own deadline.</summary>
    public static ApiException HangTimeout(TimeSpan heldFor) =>
        new(504, "Timeout", string.Create(CultureInfo.InvariantCulture, $"Timeout: request did not complete within {heldFor.TotalSeconds:0.###}s (injected hang)"))
        {
            Details = new JsonObject { ["retryAfterSeconds"] = 1 },
        };
}

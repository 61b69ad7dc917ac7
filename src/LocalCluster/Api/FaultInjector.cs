namespace Scheduler.LocalCluster.Api;

/// <summary>Decides, from the current <see cref="FaultSettings"/>, which requests fail; deterministic with a seed.</summary>
internal sealed class FaultInjector
{
    private readonly Lock _gate = new();
    private FaultSettings _settings = FaultSettings.None;
    private Random _random = new();

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

    /// <summary>The failure to answer this request with, or null to serve it.</summary>
    public ApiException? DrawRequestFailure()
    {
        lock (_gate)
        {
            if (_settings.ServerErrorRate <= 0 && _settings.ThrottleRate <= 0) return null;
            var draw = _random.NextDouble();
            if (draw < _settings.ServerErrorRate)
                return new ApiException(500, "InternalError", "Internal error occurred: injected fault")
                {
                    Details = new System.Text.Json.Nodes.JsonObject
                    {
                        ["causes"] = new System.Text.Json.Nodes.JsonArray(new System.Text.Json.Nodes.JsonObject { ["message"] = "injected fault" }),
                    },
                };
            if (draw < _settings.ServerErrorRate + _settings.ThrottleRate)
                return new ApiException(429, "TooManyRequests", "Too many requests, please try again later.")
                {
                    RetryAfterSeconds = _settings.RetryAfterSeconds,
                    Details = new System.Text.Json.Nodes.JsonObject { ["retryAfterSeconds"] = _settings.RetryAfterSeconds },
                };
            return null;
        }
    }
}

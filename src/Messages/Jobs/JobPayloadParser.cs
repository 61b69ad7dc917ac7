using System.Text.Json;

namespace Scheduler.Messages.Jobs;

/// <summary>The outcome of parsing a job payload: the payload, or a message naming where the JSON is wrong.</summary>
public sealed record JobPayloadParseResult(JobPayload? Payload, string? Error)
{
    public bool IsSuccess => Payload is not null;
}

/// <summary>Parses the body of a <c>/jobs/request</c> 201 answer. Never throws: the JSON is untrusted.</summary>
public static class JobPayloadParser
{
    private static readonly JsonSerializerOptions Options = new()
    {
        PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower,
        AllowTrailingCommas = false,
        MaxDepth = 64,
        Converters = { new NullAsEmptyStringConverter() },
    };

    // Writing leaves out nulls: reading a null string gives "", so an absent optional value must stay absent to read back equal.
    private static readonly JsonSerializerOptions WriteOptions = new(Options)
    {
        DefaultIgnoreCondition = System.Text.Json.Serialization.JsonIgnoreCondition.WhenWritingNull,
    };

    /// <summary>The payload as JSON in GitLab's shape: <see cref="Parse"/> gives back an equal payload. It holds the job's
    /// secrets (token, variables): it goes only into the job's Secret, never into a log.</summary>
    public static string ToJson(JobPayload job) => JsonSerializer.Serialize(job, WriteOptions);

    public static JobPayloadParseResult Parse(string json)
    {
        if (string.IsNullOrWhiteSpace(json))
        {
            return Fail("the job payload is empty");
        }

        JobPayload? payload;
        try
        {
            payload = JsonSerializer.Deserialize<JobPayload>(json, Options);
        }
        catch (JsonException ex)
        {
            return Fail(Describe(ex));
        }
        catch (Exception ex) when (ex is NotSupportedException or InvalidOperationException or ArgumentException or FormatException)
        {
            return Fail($"invalid job payload: {ex.Message}");
        }

        if (payload is null)
        {
            return Fail("invalid job payload: the JSON is null, expected an object");
        }

        if (FirstNullElement(payload) is { } nullPath)
        {
            return Fail($"invalid job payload at {nullPath}: null where an object is expected");
        }

        if (payload.Id <= 0)
        {
            return Fail($"invalid job payload at $.id: the job id must be positive, got {payload.Id}");
        }

        if (payload.Token.Length == 0)
        {
            return Fail("invalid job payload at $.token: the job token must not be empty");
        }

        return new JobPayloadParseResult(payload, null);
    }

    private static JobPayloadParseResult Fail(string error) => new(null, error);

    // System.Text.Json accepts null elements in a list of objects; consumers must never meet them.
    private static string? FirstNullElement(JobPayload job)
    {
        return Find("$.variables", job.Variables)
               ?? Find("$.steps", job.Steps)
               ?? Find("$.services", job.Services)
               ?? Find("$.artifacts", job.Artifacts)
               ?? Find("$.cache", job.Cache)
               ?? Find("$.credentials", job.Credentials)
               ?? Find("$.dependencies", job.Dependencies)
               ?? (job.Image is null ? null : Find("$.image.ports", job.Image.Ports))
               ?? job.Services.Select((service, i) =>
                       Find($"$.services[{i}].ports", service.Ports) ?? Find($"$.services[{i}].variables", service.Variables))
                   .FirstOrDefault(path => path is not null);

        static string? Find<T>(string path, IReadOnlyList<T> items) where T : class
        {
            for (var i = 0; i < items.Count; i++)
            {
                if (items[i] is null)
                {
                    return $"{path}[{i}]";
                }
            }

            return null;
        }
    }

    // JsonException carries the path and a 0-based line; its message repeats them after "Path:", which we cut.
    private static string Describe(JsonException ex)
    {
        var message = ex.Message;
        var cut = message.IndexOf(" Path: ", StringComparison.Ordinal);
        if (cut >= 0)
        {
            message = message[..cut];
        }

        var path = string.IsNullOrEmpty(ex.Path) ? "$" : ex.Path;
        var line = ex.LineNumber is { } l ? $" (line {l + 1})" : "";
        return $"invalid job payload at {path}{line}: {message.TrimEnd()}";
    }
}

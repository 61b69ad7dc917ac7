using System.Text.RegularExpressions;
using Scheduler.Messages.Kubernetes;

namespace Scheduler.Config;

/// <summary>The value rules of config.toml, as pure functions: each returns null when the value is fine, else why not.</summary>
internal static class ConfigRules
{
    public static readonly string[] PullPolicies = ["never", "if-not-present", "always"];

    public static readonly string[] TolerationEffects = ["", "NoSchedule", "PreferNoSchedule", "NoExecute"];

    public static readonly string[] EmptyDirMedia = ["", "Memory"];

    /// <summary>The options every allow-list pattern is compiled with; job values are matched with the same engine.</summary>
    public const RegexOptions OverwritePatternOptions = RegexOptions.NonBacktracking | RegexOptions.CultureInvariant;

    /// <summary>
    /// Why <paramref name="text"/> is not a Kubernetes quantity (as the API server reads it, <see cref="KubernetesQuantity"/>)
    /// or is negative, or null when it is fine. The empty string is not checked here: GitLab Runner treats it as "not set".
    /// </summary>
    public static string? QuantityError(string text)
    {
        if (!KubernetesQuantity.TryParse(text, out var quantity, out var error))
        {
            return $"invalid quantity \"{text}\": {error}; quantities look like \"500m\", \"1\", \"1.5\", \"128Mi\" or \"1Gi\"";
        }

        return quantity.IsNegative ? $"invalid quantity \"{text}\": resources must not be negative" : null;
    }

    public static string? PullPolicyError(string text) =>
        PullPolicies.Contains(text, StringComparer.Ordinal)
            ? null
            : $"unsupported pull policy \"{text}\"; use one of never, if-not-present, always (lower case)";

    /// <summary>The longest duration a config key may give, in seconds (about 11.5 days): .NET timers cannot wait more
    /// than about 24.8 days, and no interval, timeout or grace period of a CI runner needs to.</summary>
    public const long MaxDurationSeconds = 1_000_000;

    private static readonly Regex GoDurationPart = new(@"\G([0-9]+(?:\.[0-9]*)?|\.[0-9]+)(ns|us|µs|μs|ms|s|m|h)",
        RegexOptions.CultureInvariant);

    /// <summary>A duration as Go's time.ParseDuration reads it ("300s", "5m", "1h30m", "1.5h", "250ms"; "0" alone), as
    /// GitLab Runner's duration keys are written; null when it is not one or is negative.</summary>
    public static TimeSpan? GoDuration(string text)
    {
        var body = text.StartsWith('+') ? text[1..] : text;
        if (body == "0")
        {
            return TimeSpan.Zero;
        }

        if (body.Length == 0 || body.StartsWith('-'))
        {
            return null;
        }

        double ticks = 0;
        var at = 0;
        while (at < body.Length)
        {
            var part = GoDurationPart.Match(body, at);
            if (!part.Success || part.Index != at)
            {
                return null;
            }

            var number = double.Parse(part.Groups[1].Value, System.Globalization.CultureInfo.InvariantCulture);
            ticks += number * part.Groups[2].Value switch
            {
                "ns" => 0.01,
                "us" or "µs" or "μs" => TimeSpan.TicksPerMicrosecond,
                "ms" => TimeSpan.TicksPerMillisecond,
                "s" => TimeSpan.TicksPerSecond,
                "m" => TimeSpan.TicksPerMinute,
                _ => TimeSpan.TicksPerHour,
            };
            at += part.Length;
        }

        return ticks > MaxDurationSeconds * TimeSpan.TicksPerSecond ? null : TimeSpan.FromTicks((long)ticks);
    }

    public static bool IsCapabilityName(string name) =>
        name.Length is > 0 and <= 64 && name.All(c => c is '_' or (>= 'A' and <= 'Z') or (>= '0' and <= '9'));

    /// <summary>An SELinux type is one field of a <c>user:role:type:level</c> label: no colon, no space.</summary>
    public static string? SeLinuxTypeError(string type) =>
        type.Length <= 253 && type.All(c => c is '_' or '-' or '.' or (>= 'a' and <= 'z') or (>= 'A' and <= 'Z') or (>= '0' and <= '9'))
            ? null
            : $"\"{type}\" is not an SELinux type (letters, digits, _, - and ., e.g. container_t)";

    /// <summary>GitLab Runner title-cases <c>proc_mount</c>, so <c>unmasked</c> means Unmasked; null for any other value.</summary>
    public static string? ProcMountType(string value) =>
        value.ToLowerInvariant() switch
        {
            "default" => "Default",
            "unmasked" => "Unmasked",
            _ => null,
        };

    public static string? TolerationEffectError(string effect) =>
        TolerationEffects.Contains(effect, StringComparer.Ordinal)
            ? null
            : $"unsupported toleration effect \"{effect}\"; use NoSchedule, PreferNoSchedule, NoExecute or \"\" (any effect)";

    public static string? EmptyDirMediumError(string medium) =>
        EmptyDirMedia.Contains(medium, StringComparer.Ordinal)
            ? null
            : $"unsupported medium \"{medium}\"; use \"Memory\" (tmpfs) or \"\" (node disk)";

    /// <summary>GitLab Runner's <c>dns_policy</c> spellings (lower case, as it compares them) and the Kubernetes value of each.</summary>
    public static readonly IReadOnlyDictionary<string, string> DnsPolicies = new Dictionary<string, string>(StringComparer.Ordinal)
    {
        ["none"] = "None", ["default"] = "Default", ["cluster-first"] = "ClusterFirst", ["cluster-first-with-host-net"] = "ClusterFirstWithHostNet",
    };

    public static readonly string[] MountPropagations = ["None", "HostToContainer", "Bidirectional"];

    public static bool IsQualifiedName(string value) => Scheduler.Actors.Pods.KubernetesNames.IsQualifiedName(value);

    public static string? MountPropagationError(string value) =>
        MountPropagations.Contains(value, StringComparer.Ordinal)
            ? null
            : $"unsupported mount_propagation \"{value}\"; use None, HostToContainer or Bidirectional";

    /// <summary>The API server's rules for a selector requirement's operator and values.</summary>
    public static string? SelectorRequirementError(string op, IReadOnlyList<string> values, string[] operators)
    {
        if (!operators.Contains(op, StringComparer.Ordinal))
        {
            return $"unsupported operator \"{op}\"; use one of {string.Join(", ", operators)}";
        }

        return op switch
        {
            "In" or "NotIn" when values.Count == 0 => $"operator {op} needs at least one value",
            "Exists" or "DoesNotExist" when values.Count > 0 => $"operator {op} takes no values",
            "Gt" or "Lt" when values.Count != 1 || !long.TryParse(values[0], System.Globalization.NumberStyles.AllowLeadingSign,
                System.Globalization.CultureInfo.InvariantCulture, out _) => $"operator {op} needs exactly one integer value",
            _ => null,
        };
    }

    /// <summary>Why the allow-list <paramref name="pattern"/> cannot be used to match job values, or null.</summary>
    public static string? OverwritePatternError(string pattern)
    {
        try
        {
            _ = new Regex(pattern, OverwritePatternOptions);
            return null;
        }
        catch (RegexParseException error)
        {
            return $"invalid regular expression \"{pattern}\": {error.Error} at offset {error.Offset}";
        }
        catch (ArgumentException error)
        {
            return $"invalid regular expression \"{pattern}\": {error.Message}";
        }
        catch (NotSupportedException error)
        {
            return $"regular expression \"{pattern}\" uses a construct that the linear-time (NonBacktracking) engine "
                   + $"rejects, such as a backreference, lookaround or atomic group: {error.Message}";
        }
    }

    /// <summary>
    /// The anchored form to suggest when <paramref name="pattern"/> can match inside a longer value (GitLab Runner
    /// matches allow-lists unanchored, so <c>ci-.*</c> also allows <c>evil-ci-x</c>), or null when it is anchored.
    /// </summary>
    public static string? AnchoredSuggestion(string pattern)
    {
        var startsAnchored = pattern.StartsWith('^') || pattern.StartsWith(@"\A", StringComparison.Ordinal);
        var endsAnchored = (pattern.EndsWith('$') && !pattern.EndsWith(@"\$", StringComparison.Ordinal))
                           || pattern.EndsWith(@"\z", StringComparison.Ordinal);
        if (pattern.Length == 0 || (startsAnchored && endsAnchored))
        {
            return null;
        }

        var body = pattern;
        if (body.StartsWith('^'))
        {
            body = body[1..];
        }

        if (body.EndsWith('$') && !body.EndsWith(@"\$", StringComparison.Ordinal))
        {
            body = body[..^1];
        }

        // An alternation binds looser than the anchors: ^a|b$ would anchor each side only once.
        return body.Contains('|') ? $"^(?:{body})$" : $"^{body}$";
    }
}

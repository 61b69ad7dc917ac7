using System.Globalization;
using System.Runtime.InteropServices;
using System.CommandLine;
using k8s.Models;
using Scheduler.Hosting;
using Scheduler.LocalCluster;
using Scheduler.LocalCluster.Runtime;

namespace Scheduler.Cli;

/// <summary><c>scheduler local-cluster</c>: the embedded Kubernetes as a standalone server.</summary>
internal static class LocalClusterCommand
{
    internal static Command Create()
    {
        var port = new Option<int>("--port") { Description = "Port on 127.0.0.1 (0 picks a free one)", DefaultValueFactory = _ => 0 };
        var kubeconfig = new Option<string?>("--kubeconfig") { Description = "Where to write the kubeconfig (default: <state-dir>/kubeconfig)" };
        var stateDir = new Option<string?>("--state-dir") { Description = "Pods' data, PersistentVolumeClaim directories and the kubeconfig (default: a new temporary directory)" };
        var nodeLabels = new Option<string?>("--node-labels") { Description = "The node's labels: k=v,k2=v2" };
        var nodeTaints = new Option<string?>("--node-taints") { Description = "The node's taints: k[=v]:Effect,…" };
        var missingImages = new Option<string?>("--missing-images") { Description = "Image name globs that fail to pull: GLOB,…" };
        var hostImages = new Option<bool>("--host-images")
        {
            Description = "Run every container on this machine's filesystem instead of pulling its image (each container's events say so)",
        };
        var allowRoot = new Option<bool>("--allow-root")
        {
            Description = "Let a container that asks for root (runAsUser: 0) run as root; without it such a container is refused, and every container that names no user runs as the non-root user 65532",
        };
        var loadImages = new Option<string[]>("--load-image")
        {
            Description = "Make an image available without a registry: an OCI layout or archive, or a `docker save` archive; NAME=FILE names it (repeatable)",
            HelpName = "[NAME=]FILE",
            AllowMultipleArgumentsPerToken = false,
        };

        var faultFlags = new FaultFlags();

        var command = new Command("local-cluster", "Run the embedded single-node Kubernetes on 127.0.0.1 until Ctrl-C or SIGTERM");
        foreach (var option in new Option[] { port, kubeconfig, stateDir, nodeLabels, nodeTaints, missingImages, hostImages, loadImages, allowRoot }.Concat(faultFlags.All))
        {
            command.Options.Add(option);
        }

        command.SetAction(async (parse, cancellationToken) =>
        {
            var errors = new List<string>();
            var labels = NodeFlags.ParseLabels(parse.GetValue(nodeLabels), errors);
            var taints = NodeFlags.ParseTaints(parse.GetValue(nodeTaints), errors);
            var missing = NodeFlags.ParseList(parse.GetValue(missingImages));
            var faults = faultFlags.Read(parse, errors);
            if (errors.Count > 0)
            {
                foreach (var error in errors)
                {
                    parse.InvocationConfiguration.Error.WriteLine($"scheduler local-cluster: {error}");
                }
                return 2;
            }

            // The API server's web host would take SIGTERM/SIGINT for itself and swallow them: stop on them here.
            using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
            void OnSignal(PosixSignalContext context)
            {
                context.Cancel = true;
                stop.Cancel();
            }

            using var sigint = PosixSignalRegistration.Create(PosixSignal.SIGINT, OnSignal);
            using var sigterm = PosixSignalRegistration.Create(PosixSignal.SIGTERM, OnSignal);
            cancellationToken = stop.Token;

            var dir = Path.GetFullPath(parse.GetValue(stateDir) ?? Directory.CreateTempSubdirectory("scheduler-local-cluster-").FullName);
            Directory.CreateDirectory(dir);
            var useImages = !parse.GetValue(hostImages);
            if (!await LoadImagesAsync(parse.GetValue(loadImages) ?? [], dir, useImages, parse.InvocationConfiguration.Error, cancellationToken))
            {
                return 2;
            }
            await using var server = await EmbeddedCluster.StartAsync(dir, cancellationToken,
                new NodeSettings { Labels = labels, Taints = taints, MissingImages = missing, UseImages = useImages },
                parse.GetValue(port), parse.GetValue(kubeconfig), parse.GetValue(allowRoot));
            Console.WriteLine(useImages
                ? $"local-cluster: containers run in their images (pulled into {Path.Combine(dir, "images")}); the runner's own image scheduler:<version> runs on this machine's filesystem"
                : "local-cluster: --host-images: every container runs on this machine's filesystem, not in its image");
            if (parse.GetValue(allowRoot)) Console.WriteLine("local-cluster: --allow-root: containers that ask for root (runAsUser: 0) run as root");
            if (faults != FaultSettings.None)
            {
                // Each injected 500/429/hang is printed, so that a rehearsal's log tells which call met which fault.
                server.InjectedFaults.Observer = fault => Console.WriteLine($"local-cluster: fault: {fault}");
                server.Faults = faults;
                Console.WriteLine($"local-cluster: injecting faults: {FaultFlags.Describe(faults)}");
            }
            Console.WriteLine($"local-cluster: serving on {server.Url}");
            Console.WriteLine($"local-cluster: kubeconfig written to {server.KubeconfigPath}");
            Console.WriteLine($"local-cluster: try   KUBECONFIG={server.KubeconfigPath} kubectl get pods");
            try
            {
                await Task.Delay(Timeout.Infinite, cancellationToken);
            }
            catch (OperationCanceledException)
            {
                if (faults != FaultSettings.None)
                {
                    var injected = server.InjectedFaults;
                    Console.WriteLine($"local-cluster: injected {injected.ServerErrors} server errors, {injected.Throttles} throttles, {injected.Hangs} hangs");
                }
                Console.WriteLine("local-cluster: stopping; killing every pod's processes");
            }
            return 0;
        });
        return command;
    }

    /// <summary>
    /// <c>--load-image [NAME=]FILE</c>: each image goes into the node's store before the server starts, so pods with
    /// imagePullPolicy IfNotPresent or Never find it without a registry. False (after printing why) when one fails.
    /// </summary>
    private static async Task<bool> LoadImagesAsync(IReadOnlyList<string> values, string stateDir, bool useImages, TextWriter error,
        CancellationToken cancellationToken)
    {
        if (values.Count == 0) return true;
        if (!useImages)
        {
            await error.WriteLineAsync("scheduler local-cluster: --load-image: images are not used with --host-images");
            return false;
        }
        var store = new Scheduler.LocalCluster.Images.ImageStore(stateDir, Environment.IsPrivilegedProcess);
        foreach (var value in values)
        {
            var (name, file) = SplitLoadImage(value);
            try
            {
                var image = await store.LoadAsync(Path.GetFullPath(file), name, cancellationToken);
                Console.WriteLine($"local-cluster: loaded {image.Reference.Canonical} ({image.ManifestDigest}) from {file}");
            }
            catch (Scheduler.LocalCluster.Images.ImagePullException exception)
            {
                await error.WriteLineAsync($"scheduler local-cluster: --load-image {value}: {exception.Message}");
                return false;
            }
        }
        return true;
    }

    /// <summary><c>NAME=FILE</c> when the part before '=' is an image name and FILE exists; otherwise the whole value is the file.</summary>
    internal static (string? Name, string File) SplitLoadImage(string value)
    {
        var eq = value.IndexOf('=');
        if (eq > 0 && Scheduler.LocalCluster.Images.ImageReference.Parse(value[..eq], out _) is not null
            && (File.Exists(value[(eq + 1)..]) || Directory.Exists(value[(eq + 1)..])) && !File.Exists(value))
        {
            return (value[..eq], value[(eq + 1)..]);
        }
        return (null, value);
    }
}

/// <summary>Parsing of the node flags; errors name the flag and the offending entry.</summary>
internal static class NodeFlags
{
    private static readonly HashSet<string> TaintEffects = ["NoSchedule", "PreferNoSchedule", "NoExecute"];

    public static IReadOnlyList<string> ParseList(string? value) =>
        string.IsNullOrWhiteSpace(value) ? [] : value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);

    public static IReadOnlyDictionary<string, string> ParseLabels(string? value, List<string> errors)
    {
        var labels = new Dictionary<string, string>();
        foreach (var entry in ParseList(value))
        {
            var eq = entry.IndexOf('=');
            if (eq <= 0)
            {
                errors.Add($"--node-labels: \"{entry}\" is not k=v");
                continue;
            }
            labels[entry[..eq]] = entry[(eq + 1)..];
        }
        return labels;
    }

    public static IReadOnlyList<V1Taint> ParseTaints(string? value, List<string> errors)
    {
        var taints = new List<V1Taint>();
        foreach (var entry in ParseList(value))
        {
            var colon = entry.LastIndexOf(':');
            if (colon <= 0 || !TaintEffects.Contains(entry[(colon + 1)..]))
            {
                errors.Add($"--node-taints: \"{entry}\" is not k[=v]:Effect with Effect one of NoSchedule, PreferNoSchedule, NoExecute");
                continue;
            }
            var keyValue = entry[..colon];
            var eq = keyValue.IndexOf('=');
            taints.Add(eq < 0
                ? new V1Taint { Key = keyValue, Effect = entry[(colon + 1)..] }
                : new V1Taint { Key = keyValue[..eq], Value = keyValue[(eq + 1)..], Effect = entry[(colon + 1)..] });
        }
        return taints;
    }
}

/// <summary>
/// The <c>--fault-*</c> flags: the API server's fault injection (<see cref="FaultSettings"/>) from the command line, for
/// rehearsing a bad API server against a runner in another process. Rates are 0..1 or a percentage, sizes are bytes with an
/// optional KiB/MiB/GiB (or KB/MB/GB) suffix, durations are Go-style (<c>200ms</c>, <c>2s</c>, <c>1m30s</c>). Every error
/// names its flag.
/// </summary>
internal sealed class FaultFlags
{
    private readonly Option<string?> _serverErrors = Flag("--fault-server-errors", "RATE", "Fraction of API requests answered 500 InternalError (0..1 or N%)");
    private readonly Option<string?> _throttle = Flag("--fault-throttle", "RATE", "Fraction of API requests answered 429 TooManyRequests with Retry-After (0..1 or N%)");
    private readonly Option<string?> _retryAfter = Flag("--fault-retry-after", "SECONDS", "The Retry-After of throttled requests (default 1)");
    private readonly Option<string?> _hangRate = Flag("--fault-hang-rate", "RATE", "Fraction of API requests held without an answer for --fault-hang-for, then answered 504 (0..1 or N%)");
    private readonly Option<string?> _hangFor = Flag("--fault-hang-for", "DURATION", "How long a hung request is held (default 120s: past a client's usual 100 s timeout)");
    private readonly Option<string?> _latency = Flag("--fault-latency", "DURATION", "Delay added before every API request is served, e.g. 200ms");
    private readonly Option<string?> _watchMaxEvents = Flag("--fault-watch-max-events", "N", "End every watch (cleanly, as a server timeout does) after N events");
    private readonly Option<string?> _watchMaxDuration = Flag("--fault-watch-max-duration", "DURATION", "End every watch (cleanly) after this long");
    private readonly Option<string?> _execDropAfter = Flag("--fault-exec-drop-after", "SIZE", "Drop (abort) an exec connection after it sent this much output, e.g. 64KiB");
    private readonly Option<string?> _execDropAfterTime = Flag("--fault-exec-drop-after-time", "DURATION", "Drop (abort) an exec connection after this long");
    private readonly Option<string?> _logDropAfter = Flag("--fault-log-drop-after", "SIZE", "Drop (abort) a followed pod log after this much output");
    private readonly Option<string?> _logDropAfterTime = Flag("--fault-log-drop-after-time", "DURATION", "Drop (abort) a followed pod log after this long");
    private readonly Option<string?> _seed = Flag("--fault-seed", "N", "Seed of the draw of failing requests: the same requests in the same order meet the same faults");

    public IEnumerable<Option> All =>
    [
        _serverErrors, _throttle, _retryAfter, _hangRate, _hangFor, _latency, _watchMaxEvents, _watchMaxDuration,
        _execDropAfter, _execDropAfterTime, _logDropAfter, _logDropAfterTime, _seed,
    ];

    private static Option<string?> Flag(string name, string value, string description) =>
        new(name) { Description = description, HelpName = value };

    /// <summary>The settings the flags ask for (<see cref="FaultSettings.None"/> when none is given); problems go to <paramref name="errors"/>.</summary>
    public FaultSettings Read(ParseResult parse, List<string> errors)
    {
        var defaults = FaultSettings.None;
        var settings = new FaultSettings
        {
            ServerErrorRate = Value(parse, _serverErrors, errors, ParseRate) ?? 0,
            ThrottleRate = Value(parse, _throttle, errors, ParseRate) ?? 0,
            RetryAfterSeconds = Value(parse, _retryAfter, errors, (text, flag) => ParseCount(text, flag, min: 0)) is { } retry
                ? checked((int)retry)
                : defaults.RetryAfterSeconds,
            HangRate = Value(parse, _hangRate, errors, ParseRate) ?? 0,
            HangFor = Value(parse, _hangFor, errors, ParsePositiveDuration) ?? defaults.HangFor,
            Latency = Value(parse, _latency, errors, ParseDuration) ?? TimeSpan.Zero,
            WatchMaxEvents = Value(parse, _watchMaxEvents, errors, (text, flag) => ParseCount(text, flag, min: 1)) is { } events
                ? checked((int)events)
                : null,
            WatchMaxDuration = Value(parse, _watchMaxDuration, errors, ParsePositiveDuration),
            ExecDropAfterBytes = Value(parse, _execDropAfter, errors, ParseSize),
            ExecDropAfter = Value(parse, _execDropAfterTime, errors, ParsePositiveDuration),
            LogFollowDropAfterBytes = Value(parse, _logDropAfter, errors, ParseSize),
            LogFollowDropAfter = Value(parse, _logDropAfterTime, errors, ParsePositiveDuration),
            Seed = Value(parse, _seed, errors, (text, flag) => ParseCount(text, flag, min: int.MinValue)) is { } seed ? checked((int)seed) : null,
        };
        var total = settings.ServerErrorRate + settings.ThrottleRate + settings.HangRate;
        if (total > 1)
        {
            errors.Add(string.Create(CultureInfo.InvariantCulture,
                $"--fault-server-errors, --fault-throttle and --fault-hang-rate add up to {total:0.###}, more than 1"));
        }
        return settings;
    }

    /// <summary>One line naming the faults that are on, for the server's log.</summary>
    public static string Describe(FaultSettings f)
    {
        var parts = new List<string>();
        void Add(bool on, FormattableString text)
        {
            if (on) parts.Add(text.ToString(CultureInfo.InvariantCulture));
        }
        Add(f.ServerErrorRate > 0, $"{f.ServerErrorRate:0.####} of requests answered 500");
        Add(f.ThrottleRate > 0, $"{f.ThrottleRate:0.####} answered 429 (Retry-After {f.RetryAfterSeconds})");
        Add(f.HangRate > 0, $"{f.HangRate:0.####} held {f.HangFor.TotalSeconds:0.###}s then 504");
        Add(f.Latency > TimeSpan.Zero, $"latency {f.Latency.TotalMilliseconds:0.###}ms");
        Add(f.WatchMaxEvents is not null, $"watches end after {f.WatchMaxEvents} events");
        Add(f.WatchMaxDuration is not null, $"watches end after {f.WatchMaxDuration?.TotalSeconds:0.###}s");
        Add(f.ExecDropAfterBytes is not null, $"execs dropped after {f.ExecDropAfterBytes} bytes");
        Add(f.ExecDropAfter is not null, $"execs dropped after {f.ExecDropAfter?.TotalSeconds:0.###}s");
        Add(f.LogFollowDropAfterBytes is not null, $"followed logs dropped after {f.LogFollowDropAfterBytes} bytes");
        Add(f.LogFollowDropAfter is not null, $"followed logs dropped after {f.LogFollowDropAfter?.TotalSeconds:0.###}s");
        Add(f.Seed is not null, $"seed {f.Seed}");
        return parts.Count == 0 ? "none" : string.Join(", ", parts);
    }

    private static T? Value<T>(ParseResult parse, Option<string?> option, List<string> errors, Func<string, string, T> parser)
        where T : struct
    {
        var text = parse.GetValue(option);
        if (text is null) return null;
        try
        {
            return parser(text.Trim(), option.Name);
        }
        catch (FormatException e)
        {
            errors.Add(e.Message);
            return null;
        }
    }

    /// <summary>A fraction 0..1 (<c>0.1</c>) or a percentage (<c>10%</c>).</summary>
    internal static double ParseRate(string text, string flag)
    {
        var percent = text.EndsWith('%');
        var number = percent ? text[..^1] : text;
        if (!double.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value))
            throw new FormatException($"{flag}: \"{text}\" is not a rate; use a fraction from 0 to 1 (0.1) or a percentage (10%)");
        if (percent) value /= 100;
        if (value is < 0 or > 1)
            throw new FormatException($"{flag}: \"{text}\" is not between 0 and 1 (0%–100%)");
        return value;
    }

    /// <summary>A whole number at least <paramref name="min"/>.</summary>
    internal static long ParseCount(string text, string flag, long min)
    {
        if (!long.TryParse(text, NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out var value)
            || value < min || value > int.MaxValue)
            throw new FormatException(min == int.MinValue
                ? $"{flag}: \"{text}\" is not a whole number"
                : string.Create(CultureInfo.InvariantCulture, $"{flag}: \"{text}\" is not a whole number from {min} to {int.MaxValue}"));
        return value;
    }

    private static readonly (string Suffix, long Factor)[] SizeUnits =
    [
        ("KiB", 1L << 10), ("MiB", 1L << 20), ("GiB", 1L << 30), ("Ki", 1L << 10), ("Mi", 1L << 20), ("Gi", 1L << 30),
        ("KB", 1000), ("MB", 1000_000), ("GB", 1000_000_000), ("B", 1),
    ];

    /// <summary>Bytes: <c>65536</c>, <c>64KiB</c>, <c>1MiB</c>, <c>1.5MiB</c>, <c>10KB</c> (1000-based), <c>512B</c>; at least 1.</summary>
    internal static long ParseSize(string text, string flag)
    {
        var (number, factor) = (text, 1L);
        foreach (var (suffix, f) in SizeUnits)
        {
            if (text.EndsWith(suffix, StringComparison.Ordinal))
            {
                (number, factor) = (text[..^suffix.Length], f);
                break;
            }
        }
        if (!decimal.TryParse(number, NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var value) || value * factor < 1
            || value * factor > long.MaxValue)
            throw new FormatException($"{flag}: \"{text}\" is not a size; use bytes (65536) or a number with KiB, MiB, GiB (64KiB, 1MiB) or KB, MB, GB");
        return (long)decimal.Round(value * factor);
    }

    private static readonly (string Unit, double Milliseconds)[] DurationUnits =
        [("ms", 1), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)];

    /// <summary>A Go-style duration: one or more number–unit pairs with units ms, s, m, h (<c>200ms</c>, <c>2s</c>, <c>1m30s</c>,
    /// <c>1.5s</c>); <c>0</c> alone is zero.</summary>
    internal static TimeSpan ParseDuration(string text, string flag)
    {
        if (text == "0") return TimeSpan.Zero;
        var error = $"{flag}: \"{text}\" is not a duration; use a number with a unit ms, s, m or h (200ms, 2s, 1m, 1m30s)";
        var rest = text.AsSpan();
        if (rest.IsEmpty) throw new FormatException(error);
        double total = 0;
        while (!rest.IsEmpty)
        {
            var digits = 0;
            while (digits < rest.Length && (char.IsAsciiDigit(rest[digits]) || rest[digits] == '.')) digits++;
            if (digits == 0 || !double.TryParse(rest[..digits], NumberStyles.AllowDecimalPoint, CultureInfo.InvariantCulture, out var number))
                throw new FormatException(error);
            rest = rest[digits..];
            (string Unit, double Milliseconds) unit = default;
            foreach (var candidate in DurationUnits)
            {
                if (rest.StartsWith(candidate.Unit, StringComparison.Ordinal))
                {
                    unit = candidate;
                    break;
                }
            }
            if (unit.Unit is null)
                throw new FormatException(rest.IsEmpty ? $"{error}: the unit is missing" : error);
            total += number * unit.Milliseconds;
            rest = rest[unit.Unit.Length..];
        }
        if (total > TimeSpan.FromDays(1).TotalMilliseconds) throw new FormatException($"{flag}: \"{text}\" is longer than a day");
        return TimeSpan.FromMilliseconds(total);
    }

    internal static TimeSpan ParsePositiveDuration(string text, string flag)
    {
        var duration = ParseDuration(text, flag);
        return duration > TimeSpan.Zero ? duration : throw new FormatException($"{flag}: must be longer than 0");
    }
}

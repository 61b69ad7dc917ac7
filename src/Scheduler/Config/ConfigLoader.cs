using Scheduler.Messages.Settings;
using Tomlyn.Parsing;

namespace Scheduler.Config;

/// <summary>
/// Loads GitLab Runner's config.toml into <see cref="GlobalSettings"/>, reporting every error and warning at once,
/// each with file, line, column and key. Never throws on bad input.
/// </summary>
public static class ConfigLoader
{
    /// <summary>Overrides <c>service_account</c> of every runner entry (as GitLab Runner's environment does).</summary>
    public const string ServiceAccountVariable = "KUBERNETES_SERVICE_ACCOUNT";

    /// <summary>Overrides <c>service_account_overwrite_allowed</c> of every runner entry.</summary>
    public const string ServiceAccountOverwriteAllowedVariable = "KUBERNETES_SERVICE_ACCOUNT_OVERWRITE_ALLOWED";

    /// <summary>Reads and loads <paramref name="path"/>; an unreadable file is one error, not an exception.</summary>
    public static ConfigLoadResult LoadFile(string path, IReadOnlyDictionary<string, string>? environment = null)
    {
        string text;
        try
        {
            text = File.ReadAllText(path);
        }
        catch (Exception error) when (error is IOException or UnauthorizedAccessException or ArgumentException
                                          or NotSupportedException or System.Security.SecurityException)
        {
            var reason = error is FileNotFoundException or DirectoryNotFoundException ? "file not found" : error.Message;
            var diagnostic = new ConfigDiagnostic(path, 0, 0, "", $"cannot read config file: {reason}", DiagnosticSeverity.Error);
            return new ConfigLoadResult(null, [diagnostic], []);
        }

        var folder = Path.GetDirectoryName(Path.GetFullPath(path)) ?? ".";
        var result = LoadText(text, path, environment, patchPath => File.ReadAllText(Path.Combine(folder, patchPath)));
        return result.Settings is null ? result : result with { Settings = result.Settings with { SourcePath = path } };
    }

    /// <summary>Loads config.toml text; <paramref name="fileName"/> is the name diagnostics give the file.
    /// <paramref name="readPatchFile"/> reads a <c>pod_spec</c> <c>patch_path</c>; without it, patch_path is an error.</summary>
    public static ConfigLoadResult LoadText(string text, string fileName, IReadOnlyDictionary<string, string>? environment = null,
        Func<string, string>? readPatchFile = null)
    {
        var diagnostics = new DiagnosticCollector(fileName);
        Tomlyn.Syntax.DocumentSyntax document;
        try
        {
            document = SyntaxParser.Parse(text, fileName, validate: true);
        }
        catch (Exception error) when (error is not OutOfMemoryException)
        {
            // The parser reports problems as diagnostics; this only guards against a parser bug taking the runner down.
            diagnostics.Error(new SourcePosition(1, 1), "", $"cannot parse the file: {error.Message}");
            return new ConfigLoadResult(null, diagnostics.Errors, diagnostics.Warnings);
        }

        if (document.HasErrors)
        {
            foreach (var message in document.Diagnostics)
            {
                var position = new SourcePosition(message.Span.Start.Line + 1, message.Span.Start.Column + 1);
                if (message.Kind == Tomlyn.Syntax.DiagnosticMessageKind.Error)
                {
                    diagnostics.Error(position, "", message.Message);
                }
                else
                {
                    diagnostics.Warning(position, "", message.Message);
                }
            }

            return new ConfigLoadResult(null, diagnostics.Errors, diagnostics.Warnings);
        }

        var root = TomlTreeBuilder.Build(document, diagnostics);
        var settings = ReadGlobal(new TableReader(root, "", diagnostics), environment ?? new Dictionary<string, string>(), readPatchFile);
        return new ConfigLoadResult(settings, InFileOrder(diagnostics.Errors), InFileOrder(diagnostics.Warnings));
    }

    private static GlobalSettings ReadGlobal(TableReader table, IReadOnlyDictionary<string, string> environment,
        Func<string, string>? readPatchFile)
    {
        var defaults = new GlobalSettings();
        var concurrent = table.Int("concurrent");
        if (concurrent < 1)
        {
            table.Diagnostics.Error(table.ValuePosition("concurrent"), "concurrent", "must be at least 1");
        }

        var runnerTables = table.TableArray("runners") ?? [];
        var settings = new GlobalSettings
        {
            Concurrent = concurrent is >= 1 ? concurrent.Value : defaults.Concurrent,
            // GitLab Runner uses its defaults for zero or negative intervals and timeouts.
            CheckInterval = PositiveOr(table.Duration("check_interval"), defaults.CheckInterval),
            LogLevel = LogLevel(table),
            LogFormat = table.String("log_format"),
            ListenAddress = table.String("listen_address"),
            ShutdownTimeout = PositiveOr(table.Duration("shutdown_timeout"), defaults.ShutdownTimeout),
            KubernetesApiRate = PositiveOr(table.Int("kubernetes_api_rate"), (int)defaults.KubernetesApiRate),
            KubernetesApiBurst = PositiveOr(table.Int("kubernetes_api_burst"), defaults.KubernetesApiBurst),
            ConnectionMaxAge = table.GoDuration("connection_max_age", defaults.ConnectionMaxAge),
            Runners = runnerTables.Select(runner => ReadRunner(runner, environment, readPatchFile)).ToList(),
            Cluster = table.Table("cluster") is { } cluster ? ClusterSettingsReader.Read(cluster) : null,
        };
        table.ReportUnread([.. ConfigKeys.Global, .. ConfigKeys.GlobalOwn], ConfigKeys.GlobalNoEffect);

        if (runnerTables.Count == 0)
        {
            table.Diagnostics.Warning(table.Position, "runners", "no [[runners]] entry: this config runs no jobs");
        }

        return settings;
    }

    private static RunnerEntry ReadRunner(TableReader table, IReadOnlyDictionary<string, string> environment, Func<string, string>? readPatchFile)
    {
        var defaults = new RunnerEntry();
        var executor = table.String("executor");
        if (executor is not null && executor != "kubernetes")
        {
            table.Diagnostics.Error(table.ValuePosition("executor"), table.KeyPath("executor"),
                $"executor \"{executor}\" is not supported; this runner only runs the \"kubernetes\" executor");
        }

        var limit = table.Int("limit");
        if (limit < 0)
        {
            table.Diagnostics.Error(table.ValuePosition("limit"), table.KeyPath("limit"), "must not be negative (0 means no limit)");
        }

        var url = table.String("url");
        var token = table.String("token", secret: true);
        foreach (var (key, value) in new[] { ("url", url), ("token", token) })
        {
            if (string.IsNullOrEmpty(value))
            {
                table.Diagnostics.Warning(table.Position, table.KeyPath(key), "not set: this runner entry cannot ask GitLab for jobs");
            }
        }

        var kubernetes = table.Table("kubernetes");
        var clientCertificate = TlsClientCertificate(table);
        var runner = new RunnerEntry
        {
            Name = table.String("name") ?? defaults.Name,
            Url = url ?? defaults.Url,
            Token = token ?? defaults.Token,
            Executor = executor ?? defaults.Executor,
            Limit = limit is > 0 ? limit.Value : 0,
            RequestConcurrency = PositiveOr(table.Int("request_concurrency"), defaults.RequestConcurrency),
            // GitLab Runner uses its defaults for zero or negative values here too.
            UnhealthyRequestsLimit = PositiveOr(table.Int("unhealthy_requests_limit"), defaults.UnhealthyRequestsLimit),
            UnhealthyInterval = table.GoDuration("unhealthy_interval", defaults.UnhealthyInterval),
            JobStatusFinalUpdateRetryLimit = PositiveOr(table.Int("job_status_final_update_retry_limit"), defaults.JobStatusFinalUpdateRetryLimit),
            Environment = table.StringList("environment") ?? [],
            BuildsDir = table.String("builds_dir"),
            CacheDir = table.String("cache_dir"),
            CustomBuildDirEnabled = CustomBuildDirEnabled(table),
            SafeDirectoryCheckout = table.Bool("safe_directory_checkout"),
            CleanGitConfig = table.Bool("clean_git_config"),
            OutputLimit = PositiveOr(table.Int("output_limit"), defaults.OutputLimit),
            Shell = Shell(table),
            DebugTraceDisabled = table.Bool("debug_trace_disabled") ?? false,
            TlsCaFile = NonEmpty(table.String("tls-ca-file")),
            TlsCaCertificates = TlsCaCertificates(table),
            TlsCertFile = NonEmpty(table.String("tls-cert-file")),
            TlsKeyFile = NonEmpty(table.String("tls-key-file")),
            TlsClientCertificate = clientCertificate.Certificate,
            TlsClientKey = clientCertificate.Key,
            CloneUrl = table.String("clone_url"),
            PreGetSourcesScript = Either(table, "pre_get_sources_script", "pre_clone_script"),
            PostGetSourcesScript = Either(table, "post_get_sources_script", "post_clone_script"),
            PreBuildScript = table.String("pre_build_script"),
            PostBuildScript = table.String("post_build_script"),
            FeatureFlags = FeatureFlags(table),
            Kubernetes = kubernetes is null ? new KubernetesSettings() : KubernetesSettingsReader.Read(kubernetes, readPatchFile),
            Cache = table.Table("cache") is { } cache ? CacheSettingsReader.Read(cache) : null,
        };
        table.ReportUnread(ConfigKeys.Runner, ConfigKeys.RunnerNoEffect);
        if (kubernetes is not null && runner.Kubernetes.PodSpecPatches.Count > 0
            && !Scheduler.Actors.Pods.PodSpecSettings.IsFeatureFlagOn(Scheduler.Actors.Pods.PodSpecSettings.AdvancedPodSpecFeatureFlag, runner, []))
        {
            // As in GitLab Runner, the patches are behind the feature flag; a job's own variables may still turn it on.
            table.Diagnostics.Warning(kubernetes.ValuePosition("pod_spec"), kubernetes.KeyPath("pod_spec"),
                $"applies only to jobs with {Scheduler.Actors.Pods.PodSpecSettings.AdvancedPodSpecFeatureFlag} enabled, which this runner "
                + "entry does not enable (set it in environment or [runners.feature_flags], or in the job's variables)");
        }

        var kubernetesPath = table.KeyPath("kubernetes");
        return runner with { Kubernetes = ApplyEnvironment(runner.Kubernetes, environment, kubernetesPath, table.Diagnostics) };
    }

    // [runners.custom_build_dir] has one key, enabled.
    private static bool? CustomBuildDirEnabled(TableReader table)
    {
        if (table.Table("custom_build_dir") is not { } section)
        {
            return null;
        }

        var enabled = section.Bool("enabled");
        section.ReportUnread(["enabled"], new Dictionary<string, ConfigKeys.NoEffect>());
        return enabled;
    }

    private static string? NonEmpty(string? value) => string.IsNullOrEmpty(value) ? null : value;

    // The newer name wins over the older one, as in GitLab Runner; both are read, so neither is reported as unknown.
    private static string? Either(TableReader table, string newer, string older)
    {
        var (first, second) = (NonEmpty(table.String(newer)), NonEmpty(table.String(older)));
        return first ?? second;
    }

    // tls-ca-file is read once here: a file that is missing or holds no certificate is an error, not jobs that fail later.
    private static string? TlsCaCertificates(TableReader table)
    {
        if (NonEmpty(table.String("tls-ca-file")) is not { } path)
        {
            return null;
        }

        string pem;
        try
        {
            pem = File.ReadAllText(path);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            table.Diagnostics.Error(table.ValuePosition("tls-ca-file"), table.KeyPath("tls-ca-file"), $"cannot be read: {e.Message}");
            return null;
        }

        if (Scheduler.GitLab.GitLabCa.Parse(pem).Count == 0)
        {
            table.Diagnostics.Error(table.ValuePosition("tls-ca-file"), table.KeyPath("tls-ca-file"), $"\"{path}\" holds no PEM certificate");
            return null;
        }

        return pem;
    }

    // tls-cert-file and tls-key-file are read once here, together: one without the other, a file that cannot be read, or
    // a pair that is not a certificate and its key is an error at load, not a TLS failure at the first request.
    private static (string? Certificate, string? Key) TlsClientCertificate(TableReader table)
    {
        var (certificatePath, keyPath) = (NonEmpty(table.String("tls-cert-file")), NonEmpty(table.String("tls-key-file")));
        if (certificatePath is null && keyPath is null)
        {
            return (null, null);
        }

        if (certificatePath is null || keyPath is null)
        {
            var (present, missing) = certificatePath is null ? ("tls-key-file", "tls-cert-file") : ("tls-cert-file", "tls-key-file");
            table.Diagnostics.Error(table.ValuePosition(present), table.KeyPath(present), $"needs {missing} as well (a client certificate and its key)");
            return (null, null);
        }

        string certificate, key;
        try
        {
            certificate = File.ReadAllText(certificatePath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            table.Diagnostics.Error(table.ValuePosition("tls-cert-file"), table.KeyPath("tls-cert-file"), $"cannot be read: {e.Message}");
            return (null, null);
        }

        try
        {
            key = File.ReadAllText(keyPath);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            table.Diagnostics.Error(table.ValuePosition("tls-key-file"), table.KeyPath("tls-key-file"), $"cannot be read: {e.Message}");
            return (null, null);
        }

        using var parsed = Scheduler.GitLab.GitLabClientCertificate.FromPem(certificate, key, out var error);
        if (parsed is null)
        {
            table.Diagnostics.Error(table.ValuePosition("tls-cert-file"), table.KeyPath("tls-cert-file"),
                $"\"{certificatePath}\" and \"{keyPath}\" are not a PEM certificate and its private key ({error})");
            return (null, null);
        }

        return (certificate, key);
    }

    /// <summary>The two spec settings the environment overrides; a variable that is set wins even when empty.</summary>
    private static KubernetesSettings ApplyEnvironment(
        KubernetesSettings settings, IReadOnlyDictionary<string, string> environment, string path, DiagnosticCollector diagnostics)
    {
        if (environment.TryGetValue(ServiceAccountVariable, out var serviceAccount))
        {
            settings = settings with { ServiceAccount = serviceAccount.Length == 0 ? null : serviceAccount };
        }

        if (environment.TryGetValue(ServiceAccountOverwriteAllowedVariable, out var pattern))
        {
            settings = settings with { ServiceAccountOverwriteAllowed = pattern.Length == 0 ? null : pattern };
            if (pattern.Length > 0)
            {
                var key = $"{ServiceAccountOverwriteAllowedVariable} ({path}.service_account_overwrite_allowed)";
                if (ConfigRules.OverwritePatternError(pattern) is { } error)
                {
                    diagnostics.EnvironmentError(key, error);
                }
                else if (ConfigRules.AnchoredSuggestion(pattern) is { } anchored)
                {
                    diagnostics.EnvironmentWarning(key, UnanchoredMessage(pattern, anchored));
                }
            }
        }

        return settings;
    }

    /// <summary>The shells GitLab Runner offers whose scripts this runner can run: its stage scripts are POSIX shell,
    /// run by <c>sh</c> in the build and helper containers, so <c>bash</c> and <c>sh</c> give the same pod.</summary>
    public static readonly string[] SupportedShells = ["bash", "sh"];

    private static readonly string[] WindowsShells = ["pwsh", "powershell", "cmd"];

    private static string? Shell(TableReader table)
    {
        var shell = table.String("shell");
        if (string.IsNullOrEmpty(shell) || SupportedShells.Contains(shell, StringComparer.Ordinal))
        {
            return string.IsNullOrEmpty(shell) ? null : shell;
        }

        var why = WindowsShells.Contains(shell, StringComparer.Ordinal)
            ? "this runner's stage scripts are POSIX shell; PowerShell and cmd jobs are not supported"
            : "unknown shell";
        table.Diagnostics.Error(table.ValuePosition("shell"), table.KeyPath("shell"), $"shell \"{shell}\" cannot be used: {why}; use bash or sh");
        return null;
    }

    /// <summary>The feature flags that change what this runner does; every other flag is accepted and reported.</summary>
    public static readonly string[] EffectiveFeatureFlags =
        ["FF_USE_ADVANCED_POD_SPEC_CONFIGURATION", Scheduler.Actors.Scripts.JobScripts.UmaskDisabledFlag];

    private static IReadOnlyDictionary<string, bool> FeatureFlags(TableReader table)
    {
        var flags = new Dictionary<string, bool>(StringComparer.Ordinal);
        if (table.Table("feature_flags") is not { } flagTable)
        {
            return flags;
        }

        foreach (var name in flagTable.Keys)
        {
            if (flagTable.Bool(name) is not { } value)
            {
                continue;
            }

            if (EffectiveFeatureFlags.Contains(name, StringComparer.Ordinal))
            {
                flags[name] = value;
            }
            else
            {
                flagTable.Diagnostics.Warning(flagTable.ValuePosition(name), flagTable.KeyPath(name),
                    "has no effect here: this runner implements no such feature flag (only "
                    + string.Join(", ", EffectiveFeatureFlags) + ")");
            }
        }

        return flags;
    }

    private static readonly string[] LogLevels = ["debug", "info", "warn", "warning", "error", "fatal", "panic"];

    private static string? LogLevel(TableReader table)
    {
        var level = table.String("log_level");
        if (!string.IsNullOrEmpty(level) && !LogLevels.Contains(level.ToLowerInvariant(), StringComparer.Ordinal))
        {
            table.Diagnostics.Warning(table.ValuePosition("log_level"), "log_level",
                $"unknown log level \"{level}\"; info is used (use debug, info, warn, error, fatal or panic)");
        }

        return level;
    }

    internal static string UnanchoredMessage(string pattern, string anchored) =>
        $"pattern \"{pattern}\" is not anchored, so it also allows values that merely contain a match "
        + $"(GitLab Runner matches unanchored); use \"{anchored}\" to allow only whole values";

    /// <summary>Findings are collected in reading order; users read them top to bottom.</summary>
    private static List<ConfigDiagnostic> InFileOrder(IReadOnlyList<ConfigDiagnostic> diagnostics) =>
        diagnostics.OrderBy(d => d.Line).ThenBy(d => d.Column).ToList();

    private static int PositiveOr(int? value, int fallback) => value is > 0 ? value.Value : fallback;
}

// The shell fragments every stage script shares (variables, files, masking-safe printing, the helper's argv): one
// place so that each stage's script in JobScripts*.cs stays short.
using System.Globalization;
using System.Text;
using Scheduler.Actors.Jobs;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Scripts;

/// <summary>What every stage script of one job shares: its variables, its project directory, the helper's argv.</summary>
internal sealed class ScriptContext
{
    private readonly List<(string Key, string Value)> _predefined = [];
    private readonly List<(string Key, string Value)> _environment = [];
    private readonly List<JobVariable> _jobVariables;
    private readonly HashSet<string> _jobKeys;
    private readonly RunnerEntry _runner;

    public ScriptContext(JobPayload job, RunnerEntry runner, int concurrentId, RunnerIdentity identity, ScriptOptions options)
    {
        Job = job;
        Options = options;
        _runner = runner;
        ProjectDir = JobScripts.ProjectDir(job, options.BuildsDir);

        var info = job.JobInfo;
        var git = job.GitInfo;
        var fullPath = info.ProjectFullPath;
        var slash = fullPath.LastIndexOf('/');
        string Number(long n) => n.ToString(CultureInfo.InvariantCulture);
        _predefined.AddRange(
        [
            ("CI", "true"),
            ("GITLAB_CI", "true"),
            ("CI_SERVER", "yes"),
            ("CI_SERVER_URL", runner.Url.TrimEnd('/')),
            ("CI_DISPOSABLE_ENVIRONMENT", "true"),
            ("CI_JOB_ID", Number(job.Id)),
            ("CI_JOB_NAME", info.Name),
            ("CI_JOB_STAGE", info.Stage),
            ("CI_PIPELINE_ID", Number(info.PipelineId)),
            ("CI_PROJECT_ID", Number(info.ProjectId)),
            ("CI_PROJECT_NAME", info.ProjectName),
            ("CI_PROJECT_PATH", fullPath),
            ("CI_PROJECT_NAMESPACE", slash > 0 ? fullPath[..slash] : ""),
            ("CI_PROJECT_DIR", ProjectDir),
            ("CI_BUILDS_DIR", options.BuildsDir),
            ("CI_COMMIT_SHA", git.Sha),
            ("CI_COMMIT_SHORT_SHA", git.Sha.Length > 8 ? git.Sha[..8] : git.Sha),
            ("CI_COMMIT_BEFORE_SHA", git.BeforeSha),
            ("CI_COMMIT_REF_NAME", git.Ref),
            ("CI_CONCURRENT_ID", Number(concurrentId)),
            ("CI_CONCURRENT_PROJECT_ID", Number(concurrentId)),
            ("CI_RUNNER_VERSION", identity.Version),
            ("CI_RUNNER_REVISION", identity.Revision),
            ("CI_RUNNER_EXECUTABLE_ARCH", identity.Architecture),
        ]);

        foreach (var entry in runner.Environment)
        {
            var equals = entry.IndexOf('=');
            var key = equals < 0 ? entry : entry[..equals];
            if (ShellText.IsVariableName(key))
            {
                _environment.Add((key, equals < 0 ? "" : entry[(equals + 1)..]));
            }
        }

        // A repeated key keeps its last definition, as in GitLab; invalid names cannot be exported and are left out.
        var last = new Dictionary<string, JobVariable>(StringComparer.Ordinal);
        foreach (var variable in job.Variables.Where(v => ShellText.IsVariableName(v.Key)))
        {
            last[variable.Key] = variable;
        }

        _jobVariables = job.Variables.Where(v => last.TryGetValue(v.Key, out var kept) && ReferenceEquals(kept, v)).ToList();
        _jobKeys = new HashSet<string>(_jobVariables.Select(v => v.Key), StringComparer.Ordinal);

        // GIT_CLONE_PATH, expanded with the other variables, moves the checkout (and CI_PROJECT_DIR) within the builds dir.
        ProjectDir = JobScripts.ClonePath(GitClonePath(), options.BuildsDir, runner.CustomBuildDirEnabled ?? true, ProjectDir);
        var projectDirIndex = _predefined.FindIndex(p => p.Key == "CI_PROJECT_DIR");
        _predefined[projectDirIndex] = ("CI_PROJECT_DIR", ProjectDir);
    }

    // The job's GIT_CLONE_PATH (a raw one unexpanded), else the runner's environment's. As in GitLab Runner, the variables
    // it names are expanded first (GOPATH=$CI_BUILDS_DIR/go, GIT_CLONE_PATH=$GOPATH/src/...).
    private string GitClonePath()
    {
        var variable = _jobVariables.LastOrDefault(v => v.Key == "GIT_CLONE_PATH");
        var value = variable?.Value ?? _environment.Where(e => e.Key == "GIT_CLONE_PATH").Select(e => e.Value).LastOrDefault() ?? "";
        if (variable is { Raw: true })
        {
            return value;
        }

        return VariableExpander.Expand(value, name =>
        {
            var named = ExpandPublic("${" + name + "}");
            return _jobVariables.Any(v => v.Key == name && v.Raw) ? named : ExpandPublic(named);
        });
    }

    public JobPayload Job { get; }
    public ScriptOptions Options { get; }
    /// <summary>The checkout: <c>GIT_CLONE_PATH</c> when the job sets it, else <c>&lt;builds dir&gt;/&lt;project path&gt;</c>.</summary>
    public string ProjectDir { get; }

    /// <summary>A complete stage script around <paramref name="body"/>.</summary>
    /// <param name="helper">The stage runs in the helper container: files it makes are world-writable (umask 0000) unless
    /// <see cref="JobScripts.UmaskDisabledFlag"/> is on, so a build image with another uid can still use the checkout, cache and
    /// artifacts, as GitLab Runner's Kubernetes executor does.</param>
    /// <param name="attemptsVariable">A variable (1 to 10, default 1) naming how often the body is tried, as GitLab Runner
    /// retries get_sources and restore_cache; null: once.</param>
    public string Script(string stage, string header, bool changeDirectory, string body, bool helper = false, string? attemptsVariable = null)
    {
        var script = new StringBuilder();
        script.Append("#!/bin/sh\n");
        script.Append("# Stage ").Append(stage).Append(" of job ").Append(Job.Id.ToString(CultureInfo.InvariantCulture)).Append(". Secret values are read from ")
            .Append(JobSecretLayout.MountPath).Append(", never written here.\n");
        script.Append(ShellDetection);
        script.Append("set -e\n");
        // bash has pipefail: set without the subshell that tests for it in other shells (dash stops at an unknown option).
        script.Append("if [ -n \"${BASH_VERSION-}\" ] || (set -o pipefail) 2>/dev/null; then set -o pipefail; fi\n");
        script.Append("printf 'section_start:%s:%s\\r\\033[0K%s\\n' \"").Append(Now).Append("\" ").Append(stage).Append(' ').Append(ShellText.Quote(header)).Append('\n');
        script.Append("trap '_r=$?; printf \"section_end:%s:%s\\r\\033[0K\\n\" \"").Append(Now).Append("\" ").Append(stage).Append("; exit $_r' EXIT\n");
        // The variables are in one file of the job Secret for all stages; file variables go to a directory of this stage's.
        script.Append(TempDirVariable).Append('=').Append(ShellText.Quote(StageCommands.RunDir + "/tmp." + stage)).Append('\n');
        if (helper && !UmaskDisabled)
        {
            script.Append("umask 0000\n");
        }

        script.Append(". ").Append(ShellText.Quote(JobScriptPlan.VariablesScriptPath)).Append('\n');
        if (changeDirectory)
        {
            script.Append("[ -d \"$CI_PROJECT_DIR\" ] || mkdir -p \"$CI_PROJECT_DIR\"\ncd \"$CI_PROJECT_DIR\"\n");
        }

        if (attemptsVariable is null)
        {
            script.Append(body);
        }
        else
        {
            // The body runs in a subshell with errexit of its own; outside it errexit is off so a failed try can be retried
            // (errexit is ignored in a condition, so `until ( … )` would not stop at the failing command).
            script.Append("_attempts=\"${").Append(attemptsVariable).Append(":-1}\"\n");
            script.Append("case \"$_attempts\" in\n  [1-9]|10) ;;\n  *) echo \"ERROR: ").Append(attemptsVariable)
                .Append("=$_attempts: the number of attempts must be between 1 and 10\"; exit 1 ;;\nesac\n");
            script.Append("_attempt=1\nwhile :; do\n  set +e\n  (\n  set -e\n");
            script.Append(body);
            script.Append("  )\n  _r=$?\n  set -e\n  [ \"$_r\" -ne 0 ] || break\n");
            script.Append("  [ \"$_attempt\" -lt \"$_attempts\" ] || exit \"$_r\"\n");
            script.Append("  _attempt=$((_attempt + 1))\n  echo \"Retrying (attempt $_attempt of $_attempts)...\"\ndone\n");
        }

        script.Append("exit 0\n");
        return script.ToString();
    }

    // The time in seconds for the section lines: bash 5 (the shell most images' detection finds) has it without a process,
    // other shells run date.
    internal const string Now = "${EPOCHSECONDS:-$(date +%s)}";

    /// <summary>GitLab Runner's shell detection for containers, in its order: bash where the image has it, else sh, else
    /// busybox's.</summary>
    internal const string ShellCandidates = "/usr/local/bin/bash /usr/bin/bash /bin/bash /usr/local/bin/sh /usr/bin/sh /bin/sh /busybox/sh";

    // The script runs itself again under the shell found; the marker argument says it already did (the stage runner, see
    // StageCommands, detects the shell itself and starts the script under it with the marker: one process less).
    internal const string ShellDetection =
        $$"""
        if [ "${1-}" = --detected-shell ]; then shift; else
          for _sh in {{ShellCandidates}}; do
            if [ -x "$_sh" ]; then exec "$_sh" "$0" --detected-shell; fi
          done
          echo "shell not found"; exit 1
        fi

        """;

    private bool UmaskDisabled => FeatureFlags.IsOn(JobScripts.UmaskDisabledFlag, _runner, Job.Variables);

    /// <summary>Whether the user's script is traced (<c>set -x</c>): <c>CI_DEBUG_TRACE</c> true (as Go's ParseBool reads
    /// it, the job's value over the runner's <c>environment</c>) and the runner entry's <c>debug_trace_disabled</c> not set.</summary>
    public bool DebugTrace => DebugTraceRequested && !_runner.DebugTraceDisabled;

    /// <summary><c>CI_DEBUG_TRACE</c> is true, whether or not the runner allows it.</summary>
    public bool DebugTraceRequested
    {
        get
        {
            var value = _jobVariables.LastOrDefault(v => v.Key == "CI_DEBUG_TRACE")?.Value
                        ?? _environment.Where(e => e.Key == "CI_DEBUG_TRACE").Select(e => e.Value).LastOrDefault();
            return value is "1" or "t" or "T" or "TRUE" or "true" or "True";
        }
    }

    // Set by each stage script before it sources the variables script.
    private const string TempDirVariable = "_scheduler_tmp";

    /// <summary>The script that exports the job's variables (sourced by every stage script, stored once in the job Secret).
    /// It expects <c>$_scheduler_tmp</c>, the stage's directory for file variables.</summary>
    public string VariablesScript()
    {
        var script = new StringBuilder();
        script.Append("# The variables of job ").Append(Job.Id.ToString(CultureInfo.InvariantCulture))
            .Append(", sourced by each stage script. Secret values are read from ").Append(JobSecretLayout.MountPath).Append(", never written here.\n");
        AppendVariables(script);
        return script.ToString();
    }

    private void AppendVariables(StringBuilder script)
    {
        foreach (var (key, value) in _predefined.Where(p => !_jobKeys.Contains(p.Key)))
        {
            script.Append("export ").Append(key).Append('=').Append(ShellText.Quote(value)).Append('\n');
        }

        if (!_jobKeys.Contains("CI_JOB_TOKEN"))
        {
            AppendSecretRead(script, "CI_JOB_TOKEN", JobSecretLayout.TokenKey, Job.Token);
        }

        foreach (var (key, value) in _environment.Where(p => !_jobKeys.Contains(p.Key)))
        {
            script.Append("export ").Append(key).Append('=').Append(ShellText.ExpandingWord(value)).Append('\n');
        }

        // Literal values first (secrets and file variables), so the expanding public ones below can refer to them.
        var tempDir = "\"$" + TempDirVariable + "\"";
        foreach (var variable in _jobVariables.Where(v => v.File))
        {
            var path = "\"$" + TempDirVariable + "\"/" + variable.Key;
            script.Append("(umask 077 && mkdir -p ").Append(tempDir).Append(" && cat ")
                .Append(ShellText.Quote(JobSecretLayout.MountPath + "/" + JobSecretLayout.FilePrefix + variable.Key)).Append(" >")
                .Append(path).Append(")\n");
            script.Append("export ").Append(variable.Key).Append('=').Append(path).Append('\n');
        }

        foreach (var variable in _jobVariables.Where(v => !v.File && !v.IsShowable))
        {
            AppendSecretRead(script, variable.Key, JobSecretLayout.VariablePrefix + variable.Key, variable.Value, Exported(variable));
        }

        foreach (var variable in _jobVariables.Where(v => !v.File && v.IsShowable))
        {
            script.Append(Exported(variable) ? "export " : "unset " + variable.Key + "\n").Append(variable.Key).Append('=')
                .Append(variable.Raw ? ShellText.Quote(variable.Value) : ShellText.ExpandingWord(variable.Value)).Append('\n');
        }
    }

    /// <summary>The job's variables too long for an environment entry: the stage scripts set them in the shell without
    /// exporting them (unset first, so a runner <c>environment</c> value of the same name is not exported either).</summary>
    public IReadOnlyList<JobVariable> Unexported => _jobVariables.Where(v => !v.File && !Exported(v)).ToList();

    private static bool Exported(JobVariable variable) => EnvironmentLimit.Fits(variable.Key, variable.Value);

    /// <summary>The largest secret value (in bytes) read with the shell's own <c>read</c>; a larger one is read by
    /// <c>cat</c>, since some shells (dash) read a byte per system call.</summary>
    internal const int BuiltinReadLimit = 1024;

    // Reads the whole file, trailing newlines included (a bare $(cat) would strip them). A small value (the job token, most
    // masked variables) is read line by line with read, a builtin: no process in every stage; the last line is kept
    // whether or not it ends with a newline.
    private static void AppendSecretRead(StringBuilder script, string name, string secretKey, string value, bool export = true)
    {
        if (!export)
        {
            script.Append("unset ").Append(name).Append('\n');
        }

        var file = ShellText.Quote(JobSecretLayout.MountPath + "/" + secretKey);
        if (Encoding.UTF8.GetByteCount(value) <= BuiltinReadLimit)
        {
            script.Append(name).Append("=; while IFS= read -r _scheduler_line; do ").Append(name).Append("=\"$").Append(name)
                .Append("$_scheduler_line\n\"; done <").Append(file).Append('\n');
            script.Append(name).Append("=\"$").Append(name).Append("$_scheduler_line\"; unset _scheduler_line\n");
        }
        else
        {
            script.Append(name).Append("=$(cat ").Append(file).Append("; printf x)\n");
            script.Append(name).Append("=${").Append(name).Append("%x}\n");
        }

        if (export)
        {
            script.Append("export ").Append(name).Append('\n');
        }
    }

    /// <summary>A helper command line (the native <c>scheduler-helper</c> when it has the command, else <c>scheduler
    /// helper</c>), every word quoted.</summary>
    public string Helper(string subcommand, params string[] args) =>
        ShellText.QuoteAll([.. Options.Helper.Command(subcommand), .. args]);

    /// <summary>Expands with the public, unmasked variables and the predefined ones (a secret expands to nothing): for
    /// values that become paths or arguments in a script.</summary>
    public string ExpandPublic(string value) => VariableExpander.Expand(value, name =>
    {
        var job = _jobVariables.FirstOrDefault(v => v.Key == name);
        if (job is not null)
        {
            return job.IsShowable && !job.File ? job.Value : "";
        }

        return _environment.Concat(_predefined).Where(p => p.Key == name).Select(p => p.Value).FirstOrDefault();
    });

    /// <summary>A cache key as GitLab Runner takes it: expanded (default <c>&lt;job name&gt;/&lt;ref&gt;</c>), then
    /// sanitized (<see cref="SanitizeCacheKey"/>). Null with a warning when nothing usable is left.</summary>
    public (string? Key, string? Warning) CacheKey(JobCache cache) =>
        SanitizeCacheKey(cache.Key.Length > 0 ? ExpandPublic(cache.Key) : Job.JobInfo.Name + "/" + Job.GitInfo.Ref);

    /// <summary>The keys a restore tries after the main one, in GitLab Runner's order: the cache's <c>fallback_keys</c>
    /// (expanded), then <c>CACHE_FALLBACK_KEY</c> unless it ends in <c>-protected</c> (that suffix is GitLab's for protected
    /// refs, so a variable may not name it). Each is sanitized; the warnings go to the trace.</summary>
    public IReadOnlyList<string> CacheFallbackKeys(JobCache cache, List<string> warnings)
    {
        var keys = new List<string>();
        foreach (var raw in cache.FallbackKeys.Where(k => k.Length > 0))
        {
            Add(ExpandPublic(raw), protectedAllowed: true);
        }

        Add(ExpandPublic("$CACHE_FALLBACK_KEY"), protectedAllowed: false);
        return keys;

        void Add(string raw, bool protectedAllowed)
        {
            if (raw.Length == 0)
            {
                return;
            }

            var (key, warning) = SanitizeCacheKey(raw);
            if (warning is not null)
            {
                warnings.Add(warning);
            }

            if (key is not null && !protectedAllowed && key.EndsWith("-protected", StringComparison.Ordinal))
            {
                warnings.Add($"CACHE_FALLBACK_KEY \"{key}\" not allowed to end in \"-protected\"");
                return;
            }

            if (key is not null)
            {
                keys.Add(key);
            }
        }
    }

    /// <summary>GitLab Runner's cache key sanitizing: <c>%2f</c> and <c>%2e</c> decoded, <c>\</c> made <c>/</c>, <c>.</c> and
    /// <c>..</c> resolved inside a virtual root (a key never leaves the project's cache), trailing blanks of the last
    /// segments dropped. A changed key comes with GitLab Runner's warning; an empty result is no key.</summary>
    public static (string? Key, string? Warning) SanitizeCacheKey(string raw)
    {
        if (raw.Length == 0)
        {
            return (null, null);
        }

        var decoded = raw.Replace("%2f", "/", StringComparison.Ordinal).Replace("%2F", "/", StringComparison.Ordinal)
            .Replace("%2e", ".", StringComparison.Ordinal).Replace("%2E", ".", StringComparison.Ordinal).Replace('\\', '/');
        var segments = new List<string>();
        foreach (var part in decoded.Split('/'))
        {
            if (part is "" or ".")
            {
                continue;
            }

            if (part == "..")
            {
                if (segments.Count > 0)
                {
                    segments.RemoveAt(segments.Count - 1);
                }

                continue;
            }

            segments.Add(part);
        }

        while (segments.Count > 0)
        {
            var last = segments[^1].TrimEnd();
            if (last.Length > 0)
            {
                segments[^1] = last;
                break;
            }

            segments.RemoveAt(segments.Count - 1);
        }

        // Control characters cannot be part of a file name the helper is given; GitLab never sends them.
        var key = string.Join('/', segments);
        if (key.Length == 0 || key.Any(char.IsControl))
        {
            return (null, $"cache key \"{raw}\" could not be sanitized");
        }

        return (key, key == raw ? null : $"cache key \"{raw}\" sanitized to \"{key}\"");
    }

    /// <summary><c>cache:policy</c> expanded with the job's variables, as GitLab Runner does; an unknown policy cannot
    /// be run (GitLab Runner fails the job's script generation too).</summary>
    public string CachePolicy(JobCache cache)
    {
        var policy = string.IsNullOrEmpty(cache.Policy) ? "pull-push" : ExpandPublic(cache.Policy);
        return policy is "pull" or "push" or "pull-push"
            ? policy
            : throw new ArgumentException($"unknown cache policy \"{policy}\" (use pull, push or pull-push)");
    }

    private readonly Dictionary<(string Key, bool Upload), string?> _cacheUrlFiles = [];
    private readonly Dictionary<string, string> _cacheUrls = new(StringComparer.Ordinal);

    /// <summary>The pre-signed URLs the cache stages use, by job Secret key.</summary>
    public IReadOnlyDictionary<string, string> CacheUrls => _cacheUrls;

    /// <summary>The file in the pod that holds the pre-signed download or upload URL of <paramref name="key"/>, or null when
    /// the runner has no distributed cache (or could not sign: the warning goes to <paramref name="warnings"/>). Each URL is
    /// stored once in the job Secret, never in a script or on a command line.</summary>
    public string? CacheUrlFile(string key, bool upload, List<string> warnings)
    {
        if (_cacheUrlFiles.TryGetValue((key, upload), out var known))
        {
            return known;
        }

        var urls = Options.CacheUrls?.For(_runner, Job, key);
        if (urls?.Warning is { } warning)
        {
            warnings.Add(warning);
        }

        var url = upload ? urls?.Upload : urls?.Download;
        string? file = null;
        if (!string.IsNullOrEmpty(url))
        {
            var secretKey = CacheUrlSecretPrefix + _cacheUrls.Count.ToString(CultureInfo.InvariantCulture);
            _cacheUrls[secretKey] = url;
            file = JobSecretLayout.MountPath + "/" + secretKey;
        }

        _cacheUrlFiles[(key, upload)] = file;
        return file;
    }

    /// <summary>Job Secret keys of the cache URLs: <c>cache-url.0</c>, <c>cache-url.1</c>, …</summary>
    public const string CacheUrlSecretPrefix = "cache-url.";

    /// <summary>GitLab Runner's <c>CACHE_REQUEST_TIMEOUT</c>: minutes a cache transfer may take (default 10; a value that
    /// is not a positive number means the default).</summary>
    public string CacheRequestTimeout =>
        int.TryParse(ExpandPublic("$CACHE_REQUEST_TIMEOUT"), NumberStyles.None, CultureInfo.InvariantCulture, out var minutes) && minutes > 0
            ? minutes.ToString(CultureInfo.InvariantCulture)
            : "10";

    /// <summary><c>MaxUploadedArchiveSize</c> of the runner's distributed cache; 0: no limit.</summary>
    public long MaxUploadedArchiveSize => _runner.Cache?.MaxUploadedArchiveSize ?? 0;
}

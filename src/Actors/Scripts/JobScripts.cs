// JobScripts is split by stage: this file builds the plan and the script stages; JobScripts.Git.cs (get_sources) and
// JobScripts.Cache.cs (caches) hold the rest.
using System.Globalization;
using System.Text;
using Scheduler.Actors.Jobs;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Scripts;

/// <summary>
/// Generates a job's stage scripts as GitLab Runner's shell does (docs/execution.md). Pure: no I/O.
/// </summary>
/// <remarks>
/// Every script: run again under the shell GitLab Runner's detection finds (bash where the image has it, else sh, else
/// busybox's sh); <c>set -e</c> (and <c>pipefail</c> where the shell has it); <c>umask 0000</c> in helper stages; a
/// section around the stage; the variables
/// exported by sourcing <see cref="JobScriptPlan.VariablesScript"/>, stored once for all stages (runner-side predefined
/// ones, then runner <c>environment</c>, then the job's, so the job's win); secret values
/// are read from the job Secret's files at run time and never written into a script; public values that are not raw keep
/// their <c>$X</c> references live, so they are expanded in the pod. Commands of step_script and after_script are each
/// echoed as <c>$ command</c> in green and followed by an explicit exit-code check, so the first failing command ends the
/// stage with its code even where <c>set -e</c> does not apply (<c>a &amp;&amp; b</c>).
/// Artifacts go to and come from GitLab only when <see cref="ScriptOptions.GitLabUrl"/> is set and the job does not name
/// an unreachable server (<c>scheduler exec</c>): then <c>download_artifacts</c> fetches the dependencies' archives into
/// the project directory and the upload stages send each archive to GitLab; the job token is read by the helper from
/// the job Secret's file. Without it the upload stages only leave their archives in the pod. git fetches with a credential
/// helper that reads the token file, so the token is on no command line; submodules and LFS get it the same way.
/// <c>CI_DEBUG_TRACE</c> traces the user's commands (<c>set -x</c>) after the variables are exported.
/// Caches as GitLab Runner: <c>restore_cache</c> tries the key, then <c>cache:fallback_keys</c>, then
/// <c>CACHE_FALLBACK_KEY</c>; the archive stages follow <c>policy</c> and <c>when</c>. With a distributed cache
/// (<see cref="ScriptOptions.CacheUrls"/>) the helper downloads and uploads the archive with pre-signed URLs that the job
/// Secret holds (<see cref="JobScriptPlan.CacheUrls"/>); the scripts name only their files.
/// Not done: expansion of references inside non-public values (they are exported literally).
/// </remarks>
public static partial class JobScripts
{
    public const string GetSources = "get_sources";
    public const string RestoreCache = "restore_cache";
    public const string DownloadArtifacts = "download_artifacts";
    public const string StepScript = "step_script";
    public const string AfterScript = "after_script";
    public const string ArchiveCache = "archive_cache";
    public const string ArchiveCacheOnFailure = "archive_cache_on_failure";
    public const string UploadArtifactsOnSuccess = "upload_artifacts_on_success";
    public const string UploadArtifactsOnFailure = "upload_artifacts_on_failure";

    /// <summary>GitLab Runner's feature flag that turns the helper stages' <c>umask 0000</c> off.</summary>
    public const string UmaskDisabledFlag = "FF_DISABLE_UMASK_FOR_KUBERNETES_EXECUTOR";

    /// <summary>GitLab Runner's warning when a job asks for <c>CI_DEBUG_TRACE</c> on a runner with <c>debug_trace_disabled</c>.</summary>
    public const string DebugTraceDisabledWarning = "CI_DEBUG_TRACE usage is disabled on this Runner";

    /// <summary>The warning a traced job's log starts with.</summary>
    public const string DebugTraceWarning = "CI_DEBUG_TRACE is enabled: the job's commands are traced in this log; masked variables stay masked";

    /// <summary>Written by the runner (<see cref="StageCommands.MarkCanceled"/>) when a job is canceled: after_script then
    /// sees <c>CI_JOB_STATUS=canceled</c>.</summary>
    public const string CanceledMarker = StageCommands.RunDir + "/job.canceled";

    /// <summary>Where the artifact stages leave their archives: <c>&lt;RunDir&gt;/artifacts/&lt;index&gt;.zip</c> (<c>.gz</c>, <c>.raw</c>).</summary>
    public const string ArtifactsDir = StageCommands.RunDir + "/artifacts";

    /// <summary>Where <c>download_artifacts</c> keeps the dependencies' archives: <c>&lt;RunDir&gt;/dependencies/&lt;job id&gt;.zip</c>.</summary>
    public const string DependenciesDir = StageCommands.RunDir + "/dependencies";

    /// <summary>The job token's file, which the helper reads for GitLab's <c>JOB-TOKEN</c> header.</summary>
    public const string TokenFile = JobSecretLayout.MountPath + "/" + JobSecretLayout.TokenKey;

    public static JobScriptPlan Build(JobPayload job, RunnerEntry runner, int concurrentId, RunnerIdentity identity, ScriptOptions options)
    {
        var context = new ScriptContext(job, runner, concurrentId, identity, options);
        var gitLabUrl = GitLabForArtifacts(job, options);
        var stages = new List<StagePlan>
        {
            new(GetSources, JobContainers.Helper, StageRunsWhen.Always, context.Script(GetSources, "Getting source from Git repository",
                changeDirectory: false, GetSourcesBody(job, runner, context), helper: true, attemptsVariable: "GET_SOURCES_ATTEMPTS")),
        };

        // As GitLab Runner: a cache without paths and without untracked has nothing to restore or archive.
        var caches = job.Cache.Select((cache, index) => (cache, index)).Where(c => c.cache.Paths.Count > 0 || c.cache.Untracked).ToList();
        var restored = caches.Where(c => context.CachePolicy(c.cache) is "pull" or "pull-push").ToList();
        if (restored.Count > 0)
        {
            stages.Add(new StagePlan(RestoreCache, JobContainers.Helper, StageRunsWhen.OnSuccess,
                context.Script(RestoreCache, "Restoring cache", changeDirectory: true, RestoreCacheBody(restored, context), helper: true,
                    attemptsVariable: "RESTORE_CACHE_ATTEMPTS")));
        }

        var downloads = job.Dependencies.Where(d => !string.IsNullOrEmpty(d.ArtifactsFile?.Filename)).ToList();
        if (gitLabUrl is not null && downloads.Count > 0)
        {
            stages.Add(new StagePlan(DownloadArtifacts, JobContainers.Helper, StageRunsWhen.OnSuccess,
                context.Script(DownloadArtifacts, "Downloading artifacts", changeDirectory: true, DownloadArtifactsBody(downloads, context, gitLabUrl),
                    helper: true)));
        }

        var script = CommandsOf(job, "script");
        if (script.Count > 0)
        {
            // pre_build_script and post_build_script of [[runners]] run around the job's script, each as one command.
            List<string> commands = [.. NonEmpty(runner.PreBuildScript), .. script, .. NonEmpty(runner.PostBuildScript)];
            stages.Add(new StagePlan(StepScript, JobContainers.Build, StageRunsWhen.OnSuccess,
                context.Script(StepScript, "Executing \"step_script\" stage of the job script", changeDirectory: true,
                    NoticesBody(job, runner, context) + DebugTraceBody(context, warn: true) + CommandsBody(commands))));
        }

        var afterScript = CommandsOf(job, "after_script");
        if (afterScript.Count > 0)
        {
            stages.Add(new StagePlan(AfterScript, JobContainers.Build, StageRunsWhen.Always,
                context.Script(AfterScript, "Running after_script", changeDirectory: true,
                    JobStatusBody() + DebugTraceBody(context, warn: false) + CommandsBody(afterScript)),
                IgnoreFailure: true, Timeout: options.AfterScriptTimeout ?? ScriptOptions.DefaultAfterScriptTimeout));
        }

        var pushed = caches.Where(c => context.CachePolicy(c.cache) is "push" or "pull-push").ToList();
        AddArchiveCache(ArchiveCache, StageRunsWhen.OnSuccess, "Saving cache for successful job", "on_success");
        AddArchiveCache(ArchiveCacheOnFailure, StageRunsWhen.OnFailure, "Saving cache for failed job", "on_failure");

        var archives = new List<string>();
        var artifacts = job.Artifacts.Select((artifact, index) => (artifact, index)).ToList();
        AddArtifacts(UploadArtifactsOnSuccess, StageRunsWhen.OnSuccess, "Uploading artifacts for successful job", "on_success");
        AddArtifacts(UploadArtifactsOnFailure, StageRunsWhen.OnFailure, "Uploading artifacts for failed job", "on_failure");

        return new JobScriptPlan(stages, archives.Distinct(StringComparer.Ordinal).ToList(), context.VariablesScript())
        {
            CacheUrls = context.CacheUrls,
        };

        void AddArchiveCache(string name, StageRunsWhen when, string header, string whenValue)
        {
            var selected = pushed.Where(c => Matches(c.cache.When, whenValue)).ToList();
            if (selected.Count > 0)
            {
                stages.Add(new StagePlan(name, JobContainers.Helper, when,
                    context.Script(name, header, changeDirectory: true, ArchiveCacheBody(selected, context), helper: true)));
            }
        }

        void AddArtifacts(string name, StageRunsWhen when, string header, string whenValue)
        {
            var selected = artifacts.Where(a => Matches(a.artifact.When, whenValue) && (a.artifact.Paths.Count > 0 || a.artifact.Untracked)).ToList();
            if (selected.Count > 0)
            {
                stages.Add(new StagePlan(name, JobContainers.Helper, when,
                    context.Script(name, header, changeDirectory: true, ArtifactsBody(selected, context, archives, gitLabUrl), helper: true)));
            }
        }
    }

    /// <summary>The job with <c>CI_SERVER_TLS_CA_FILE</c>, a file variable holding the runner entry's <c>tls-ca-file</c>
    /// certificates, as GitLab Runner hands a job its GitLab's CA: git (GIT_SSL_CAINFO in get_sources) and the helper's
    /// calls to GitLab trust it. A job that sets the variable itself keeps its own.
    /// The same for <c>tls-cert-file</c>/<c>tls-key-file</c>: <c>CI_SERVER_TLS_CERT_FILE</c> and, never public,
    /// <c>CI_SERVER_TLS_KEY_FILE</c> (git's GIT_SSL_CERT/GIT_SSL_KEY, the helper's client certificate).</summary>
    public static JobPayload WithServerCa(JobPayload job, RunnerEntry runner)
    {
        var added = new List<JobVariable>();
        if (!string.IsNullOrEmpty(runner.TlsCaCertificates) && job.Variables.All(v => v.Key != ServerCaVariable))
        {
            added.Add(new JobVariable { Key = ServerCaVariable, Value = runner.TlsCaCertificates, Public = true, File = true });
        }

        if (!string.IsNullOrEmpty(runner.TlsClientCertificate) && !string.IsNullOrEmpty(runner.TlsClientKey)
            && job.Variables.All(v => v.Key != ServerCertificateVariable && v.Key != ServerKeyVariable))
        {
            added.Add(new JobVariable { Key = ServerCertificateVariable, Value = runner.TlsClientCertificate, Public = true, File = true });
            added.Add(new JobVariable { Key = ServerKeyVariable, Value = runner.TlsClientKey, Public = false, File = true });
        }

        return added.Count == 0 ? job : job with { Variables = [.. job.Variables, .. added] };
    }

    /// <summary>GitLab Runner's variable naming the file with the GitLab server's CA.</summary>
    public const string ServerCaVariable = "CI_SERVER_TLS_CA_FILE";

    /// <summary>GitLab Runner's variables naming the files with the client certificate for GitLab and its key.</summary>
    public const string ServerCertificateVariable = "CI_SERVER_TLS_CERT_FILE";
    public const string ServerKeyVariable = "CI_SERVER_TLS_KEY_FILE";

    /// <summary>The directory of the project's checkout: <c>&lt;builds dir&gt;/&lt;project full path&gt;</c> (the project id
    /// when the path is not a plain relative path).</summary>
    public static string ProjectDir(JobPayload job, string buildsDir) =>
        buildsDir.TrimEnd('/') + "/" + SafeRelativePath(job.JobInfo.ProjectFullPath, "project-" + job.JobInfo.ProjectId.ToString(CultureInfo.InvariantCulture));

    /// <summary>GitLab Runner's rule for <c>GIT_CLONE_PATH</c> (already expanded): empty keeps <paramref name="defaultDir"/>; otherwise
    /// it needs <c>custom_build_dir</c> enabled and must be an absolute path within <paramref name="buildsDir"/>, and is used
    /// cleaned (<c>.</c> and <c>..</c> resolved). A path GitLab Runner refuses fails the job with its message.</summary>
    public static string ClonePath(string gitClonePath, string buildsDir, bool customBuildDirEnabled, string defaultDir)
    {
        if (gitClonePath.Length == 0)
        {
            return defaultDir;
        }

        if (!customBuildDirEnabled)
        {
            throw new ArgumentException("setting GIT_CLONE_PATH is not allowed, enable `custom_build_dir` feature");
        }

        var root = CleanPath(buildsDir);
        var dir = CleanPath(gitClonePath);
        var relative = dir == root ? "." : root == "/" ? dir[1..] : dir.StartsWith(root + "/", StringComparison.Ordinal) ? dir[(root.Length + 1)..] : "..";
        // GitLab Runner refuses any relative form that starts with "..", a first segment such as "..cache" included.
        if (!gitClonePath.StartsWith('/') || relative.StartsWith("..", StringComparison.Ordinal) || dir.Any(char.IsControl))
        {
            throw new ArgumentException($"the GIT_CLONE_PATH=\"{gitClonePath}\" has to be within \"{buildsDir}\"");
        }

        return dir;
    }

    // Go's path.Clean for an absolute path: repeated and trailing slashes, "." and ".." resolved ("/.." stays "/").
    private static string CleanPath(string path)
    {
        var segments = new List<string>();
        foreach (var part in path.Split('/'))
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

        return "/" + string.Join('/', segments);
    }

    /// <summary>The GitLab URL the pod uses for artifacts, or null when artifacts stay in the pod: no URL in the options,
    /// or a job whose <c>CI_SERVER_URL</c> no pod can reach (<c>scheduler exec</c>, even with a config naming a real GitLab).</summary>
    public static string? GitLabForArtifacts(JobPayload job, ScriptOptions options)
    {
        if (options.GitLabUrl is not { } url || !ScriptOptions.IsReachableGitLab(url))
        {
            return null;
        }

        var server = job.Variables.LastOrDefault(v => v.Key == "CI_SERVER_URL")?.Value;
        return string.IsNullOrEmpty(server) || ScriptOptions.IsReachableGitLab(server) ? url : null;
    }

    private static bool Matches(string when, string stageWhen) =>
        (string.IsNullOrEmpty(when) ? "on_success" : when) is var w && (w == "always" || w == stageWhen);

    private static IReadOnlyList<string> CommandsOf(JobPayload job, string stepName) =>
        job.Steps.Where(step => step.Name == stepName).SelectMany(step => step.Script).Where(line => !string.IsNullOrWhiteSpace(line)).ToList();

    private static string SafeRelativePath(string path, string fallback)
    {
        var segments = path.Split('/');
        var safe = path.Length > 0 && segments.All(s => s.Length > 0 && s != "." && s != ".." && !s.Any(char.IsControl) && !s.Contains('\\'));
        return safe ? path : fallback;
    }

    // Each command: echoed like GitLab Runner (a multi-line command shows its first line), run, then its code checked.
    private static string CommandsBody(IReadOnlyList<string> commands)
    {
        var body = new StringBuilder();
        foreach (var command in commands)
        {
            var lines = command.Replace("\r\n", "\n", StringComparison.Ordinal).Split('\n');
            var shown = lines.Length > 1 ? lines[0] + " # collapsed multi-line command" : lines[0];
            body.Append("printf '\\033[32;1m$ %s\\033[0;m\\n' ").Append(ShellText.Quote(shown)).Append('\n');
            body.Append(command.Replace("\r\n", "\n", StringComparison.Ordinal).TrimEnd('\n')).Append('\n');
            body.Append("_r=$?; [ \"$_r\" -eq 0 ] || exit \"$_r\"\n");
        }

        return body.ToString();
    }

    // after_script sees how the job ended (GitLab Runner's CI_JOB_STATUS): canceled when the runner marked it so, else from
    // step_script's exit marker, whose first word is the exit code (the log's size follows it).
    private static string JobStatusBody()
    {
        var marker = ShellText.Quote(StageCommands.RunDir + "/" + StepScript + ".exit");
        return "scheduler_exit_code=\n"
               + $"[ -f {marker} ] && read -r scheduler_exit_code scheduler_log_size <{marker}\n"
               + $"if [ -f {ShellText.Quote(CanceledMarker)} ]; then CI_JOB_STATUS=canceled; "
               + "elif [ \"$scheduler_exit_code\" = 0 ]; then CI_JOB_STATUS=success; else CI_JOB_STATUS=failed; fi\n"
               + "unset scheduler_exit_code scheduler_log_size\n"
               + "export CI_JOB_STATUS\n";
    }

    // CI_DEBUG_TRACE: the user's commands are traced from here on (the variables were sourced untraced, so the script's
    // own reading of secret files is not shown); what the trace shows still goes through the runner's masking.
    private static string DebugTraceBody(ScriptContext context, bool warn)
    {
        if (context.DebugTrace)
        {
            var warning = warn ? "printf '\\033[0;33mWARNING: %s\\033[0;m\\n' " + ShellText.Quote(DebugTraceWarning) + "\n" : "";
            return warning + "set -x\n";
        }

        return warn && context.DebugTraceRequested
            ? "printf '\\033[0;33mWARNING: %s\\033[0;m\\n' " + ShellText.Quote(DebugTraceDisabledWarning) + "\n"
            : "";
    }

    // Where the job did not get what it asked for: an image:kubernetes:user that was not applied, variables too long to be
    // exported. Printed where the job's own commands start; no value is shown.
    private static string NoticesBody(JobPayload job, RunnerEntry runner, ScriptContext context)
    {
        var body = new StringBuilder();
        foreach (var warning in JobUser.Warnings(job, runner.Kubernetes))
        {
            body.Append("printf '\\033[0;33mWARNING: %s\\033[0;m\\n' ").Append(ShellText.Quote(warning)).Append('\n');
        }

        foreach (var variable in context.Unexported)
        {
            body.Append("printf '\\033[0;33mWARNING: %s\\033[0;m\\n' ")
                .Append(ShellText.Quote(EnvironmentLimit.Note(variable.Key, variable.Value))).Append('\n');
        }

        return body.ToString();
    }

    private static IEnumerable<string> NonEmpty(string? script) =>
        string.IsNullOrWhiteSpace(script) ? [] : [script];

    // GitLab Runner's downloader: one call per dependency that has an archive, extracted into the project directory (the
    // stage's working directory). GitLab authenticates the running job's token for its dependencies ("via dependent
    // job"), so the job token's file serves every download and the dependencies' tokens never reach the pod.
    // ARTIFACT_DOWNLOAD_ATTEMPTS (1 to 10, default 1) as GitLab Runner: here each dependency's download is tried that often.
    private static string DownloadArtifactsBody(IEnumerable<JobDependency> dependencies, ScriptContext context, string gitLabUrl)
    {
        var body = new StringBuilder("""
            _attempts="${ARTIFACT_DOWNLOAD_ATTEMPTS:-1}"
            case "$_attempts" in
              [1-9]|10) ;;
              *) echo "ERROR: ARTIFACT_DOWNLOAD_ATTEMPTS=$_attempts: the number of attempts must be between 1 and 10"; exit 1 ;;
            esac

            """);
        foreach (var dependency in dependencies)
        {
            var id = dependency.Id.ToString(CultureInfo.InvariantCulture);
            body.Append("printf 'Downloading artifacts for %s (%s)...\\n' ").Append(ShellText.Quote(dependency.Name)).Append(' ').Append(id).Append('\n');
            body.Append("_n=1\nuntil ").Append(context.Helper("artifacts-downloader", "--url", gitLabUrl, "--id", id, "--token-file", TokenFile,
                "--output", DependenciesDir + "/" + id + ".zip", "--extract-to", ".")).Append("; do\n");
            body.Append("  _r=$?; [ \"$_n\" -lt \"$_attempts\" ] || exit \"$_r\"; _n=$((_n + 1)); echo \"Retrying (attempt $_n of $_attempts)...\"\n");
            body.Append("done\n");
        }

        return body.ToString();
    }

    // GitLab Runner's uploader: one archive and one upload per artifacts entry, in the entry's format (zip; gzip for most
    // reports, junit and dotenv among them; raw for a single file), with its type, name and expire_in as query parameters.
    private static string ArtifactsBody(IEnumerable<(JobArtifact Artifact, int Index)> artifacts, ScriptContext context, List<string> archives,
        string? gitLabUrl)
    {
        var body = new StringBuilder();
        foreach (var (artifact, index) in artifacts)
        {
            var format = string.IsNullOrEmpty(artifact.Format) ? "zip" : artifact.Format;
            if (format is not ("zip" or "gzip" or "raw"))
            {
                body.Append("echo ").Append(ShellText.Quote(
                    $"WARNING: artifacts \"{artifact.Name}\" in format {format}: only zip, gzip and raw are made; not uploaded")).Append('\n');
                continue;
            }

            var output = ArtifactsDir + "/" + index.ToString(CultureInfo.InvariantCulture) + format switch { "gzip" => ".gz", "raw" => ".raw", _ => ".zip" };
            archives.Add(output);
            var args = new List<string> { "--output", output };
            foreach (var path in artifact.Paths)
            {
                args.Add("--path");
                args.Add(context.ExpandPublic(path));
            }

            foreach (var path in artifact.Exclude)
            {
                args.Add("--exclude");
                args.Add(context.ExpandPublic(path));
            }

            if (artifact.Untracked)
            {
                args.Add("--untracked");
            }

            if (format != "zip")
            {
                args.AddRange(["--format", format]);
            }

            body.Append(context.Helper("artifacts-archiver", [.. args])).Append('\n');
            if (gitLabUrl is not null)
            {
                List<string> upload =
                [
                    "--url", gitLabUrl, "--id", context.Job.Id.ToString(CultureInfo.InvariantCulture), "--token-file", TokenFile,
                    "--file", output, "--name", context.ExpandPublic(artifact.Name), "--format", format,
                    "--type", string.IsNullOrEmpty(artifact.Type) ? "archive" : artifact.Type,
                ];
                if (!string.IsNullOrEmpty(artifact.ExpireIn))
                {
                    upload.AddRange(["--expire-in", artifact.ExpireIn]);
                }

                // No archive when nothing matched: the archiver said so, and there is nothing to send.
                body.Append("if [ -f ").Append(ShellText.Quote(output)).Append(" ]; then ").Append(context.Helper("artifacts-uploader", [.. upload]))
                    .Append("; fi\n");
            }
        }

        return body.ToString();
    }
}

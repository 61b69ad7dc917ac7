using System.Security.Cryptography;
using System.Text;
using System.Text.RegularExpressions;
using Scheduler.Messages.Jobs;

namespace Scheduler.Exec;

/// <summary>A variable given on the command line: <c>--env K=V</c> (public) or <c>--masked K=V</c> (masked, not public).</summary>
public sealed record ExecVariableFlag(string Key, string Value, bool Masked)
{
    public override string ToString() => $"ExecVariableFlag {{ Key = {Key}, Value = {(Masked ? "[hidden]" : Value)} }}";
}

/// <summary>What one exec run adds to the job from the file: its id, its fresh token, the command line's variables.</summary>
public sealed record ExecJobOptions(long JobId, string Token, IReadOnlyList<ExecVariableFlag> Flags, DateTimeOffset StartedAt)
{
    public override string ToString() => $"ExecJobOptions {{ JobId = {JobId}, Flags = {Flags.Count}, StartedAt = {StartedAt:O} }}";
}

/// <summary>Turns a .gitlab-ci.yml job and the repository it comes from into the payload GitLab would have sent.</summary>
public static partial class ExecJobPayloadBuilder
{
    public const string ServerUrl = "http://gitlab.exec.invalid";
    public const string ProjectNamespace = "exec";
    private const string NullSha = "0000000000000000000000000000000000000000";

    [GeneratedRegex("^[A-Za-z_][A-Za-z0-9_]*$")]
    private static partial Regex VariableName();

    /// <summary>A random job token for one run; it is masked in the trace like a real one.</summary>
    public static string NewJobToken() => "glcbt-exec-" + Convert.ToHexStringLower(RandomNumberGenerator.GetBytes(16));

    /// <summary>A job id for one run: positive and unlikely to collide with another exec on the same cluster.</summary>
    public static long NewJobId() => RandomNumberGenerator.GetInt32(1, int.MaxValue);

    /// <summary>Parses <c>KEY=VALUE</c>; the error names the flag and never echoes a masked value.</summary>
    public static (ExecVariableFlag? Flag, string? Error) ParseFlag(string text, bool masked)
    {
        var flag = masked ? "--masked" : "--env";
        var eq = text.IndexOf('=');
        if (eq <= 0)
        {
            return (null, $"{flag} expects KEY=VALUE, got \"{(masked ? Redact(text) : text)}\"");
        }

        var key = text[..eq];
        var value = text[(eq + 1)..];
        if (!VariableName().IsMatch(key))
        {
            return (null, $"{flag}: \"{key}\" is not a variable name (letters, digits and _, not starting with a digit)");
        }

        if (masked && value.Length == 0)
        {
            return (null, $"--masked {key}: a masked value must not be empty");
        }

        return (new ExecVariableFlag(key, value, masked), null);
    }

    private static string Redact(string text) => text.Length == 0 ? "" : "[hidden]";

    public static JobPayload Build(CiJob job, GitRepositoryInfo repository, ExecJobOptions options)
    {
        var projectName = Slug(Path.GetFileName(repository.TopLevel.TrimEnd('/')));
        if (projectName.Length == 0)
        {
            projectName = "project";
        }

        var projectPath = $"{ProjectNamespace}/{projectName}";
        var refName = repository.Branch ?? repository.Sha;
        var timeout = job.TimeoutSeconds ?? RunnerInfo.DefaultTimeoutSeconds;

        var variables = new List<JobVariable>();
        foreach (var (key, value) in PredefinedVariables(job, repository, options, projectName, projectPath, refName))
        {
            variables.Add(new JobVariable { Key = key, Value = value, Public = true });
        }
        variables.AddRange(job.Variables.Select(v => new JobVariable { Key = v.Key, Value = v.Value, Public = true }));
        variables.AddRange(options.Flags.Select(f => new JobVariable
        {
            Key = f.Key, Value = f.Value, Public = !f.Masked, Masked = f.Masked,
        }));

        List<JobStep> steps =
        [
            new() { Name = "script", Script = [.. job.BeforeScript, .. job.Script], Timeout = timeout, When = "on_success" },
        ];
        if (job.AfterScript.Count > 0)
        {
            steps.Add(new JobStep { Name = "after_script", Script = job.AfterScript, Timeout = timeout, When = "always" });
        }

        return new JobPayload
        {
            Id = options.JobId,
            Token = options.Token,
            AllowGitFetch = false,
            JobInfo = new JobInfo
            {
                Id = options.JobId,
                Name = job.Name,
                Stage = job.Stage,
                PipelineId = options.JobId,
                ProjectId = 1,
                ProjectName = projectName,
                ProjectFullPath = projectPath,
                NamespaceId = 1,
                RootNamespaceId = 1,
            },
            GitInfo = new GitInfo
            {
                // A local path: the embedded cluster's containers see the host's filesystem, so git clones it directly.
                RepoUrl = repository.TopLevel,
                Ref = refName,
                Sha = repository.Sha,
                BeforeSha = NullSha,
                RefType = "branch",
                Refspecs = repository.Branch is { } branch
                    ? [$"+refs/heads/{branch}:refs/remotes/origin/{branch}", "+refs/tags/*:refs/tags/*"]
                    : ["+HEAD:refs/remotes/origin/HEAD", "+refs/tags/*:refs/tags/*"],
                Depth = 0,
            },
            RunnerInfo = new RunnerInfo { Timeout = timeout },
            Variables = Deduplicate(variables),
            Steps = steps,
            Image = job.Image is { } image
                ? new JobImage
                {
                    Name = image.Name, Entrypoint = image.Entrypoint,
                    ExecutorOpts = new JobExecutorOptions { Kubernetes = new JobKubernetesOptions { User = image.KubernetesUser } },
                }
                : null,
            Services = [.. job.Services.Select(s => new JobService
            {
                Name = s.Name, Alias = s.Alias, Entrypoint = s.Entrypoint, Command = s.Command,
                ExecutorOpts = new JobExecutorOptions { Kubernetes = new JobKubernetesOptions { User = s.KubernetesUser } },
            })],
            Artifacts = job.Artifacts is { } a && (a.Paths.Count > 0 || a.Untracked)
                ? [new JobArtifact
                {
                    Name = a.Name, Untracked = a.Untracked, Paths = a.Paths, Exclude = a.Exclude, When = a.When,
                    Type = "archive", Format = "zip", ExpireIn = a.ExpireIn,
                }]
                : [],
            Cache = [.. job.Cache.Select(c => new JobCache
            {
                Key = c.Key, Untracked = c.Untracked, Policy = c.Policy, Paths = c.Paths, When = c.When,
            })],
            Features = new JobFeatures { TraceSections = true },
        };
    }

    private static IEnumerable<(string Key, string Value)> PredefinedVariables(
        CiJob job, GitRepositoryInfo repository, ExecJobOptions options, string projectName, string projectPath, string refName)
    {
        var projectUrl = $"{ServerUrl}/{projectPath}";
        yield return ("CI", "true");
        yield return ("GITLAB_CI", "true");
        yield return ("CI_SERVER", "yes");
        yield return ("CI_SERVER_URL", ServerUrl);
        yield return ("CI_SERVER_HOST", new Uri(ServerUrl).Host);
        yield return ("CI_SERVER_NAME", "GitLab");
        yield return ("CI_API_V4_URL", $"{ServerUrl}/api/v4");
        yield return ("CI_JOB_ID", options.JobId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return ("CI_JOB_NAME", job.Name);
        yield return ("CI_JOB_STAGE", job.Stage);
        yield return ("CI_JOB_URL", $"{projectUrl}/-/jobs/{options.JobId}");
        yield return ("CI_JOB_STARTED_AT", options.StartedAt.UtcDateTime.ToString("yyyy-MM-ddTHH:mm:ssZ", System.Globalization.CultureInfo.InvariantCulture));
        yield return ("CI_PIPELINE_ID", options.JobId.ToString(System.Globalization.CultureInfo.InvariantCulture));
        yield return ("CI_PIPELINE_IID", "1");
        yield return ("CI_PIPELINE_SOURCE", "push");
        yield return ("CI_PROJECT_ID", "1");
        yield return ("CI_PROJECT_NAME", projectName);
        yield return ("CI_PROJECT_TITLE", projectName);
        yield return ("CI_PROJECT_PATH", projectPath);
        yield return ("CI_PROJECT_PATH_SLUG", Slug(projectPath));
        yield return ("CI_PROJECT_NAMESPACE", ProjectNamespace);
        yield return ("CI_PROJECT_ROOT_NAMESPACE", ProjectNamespace);
        yield return ("CI_PROJECT_URL", projectUrl);
        yield return ("CI_PROJECT_VISIBILITY", "private");
        yield return ("CI_REPOSITORY_URL", repository.TopLevel);
        yield return ("CI_COMMIT_SHA", repository.Sha);
        yield return ("CI_COMMIT_SHORT_SHA", repository.Sha[..Math.Min(8, repository.Sha.Length)]);
        yield return ("CI_COMMIT_BEFORE_SHA", NullSha);
        yield return ("CI_COMMIT_REF_NAME", refName);
        yield return ("CI_COMMIT_REF_SLUG", Slug(refName));
        yield return ("CI_COMMIT_TITLE", repository.CommitTitle);
        if (repository.Branch is { } branch)
        {
            yield return ("CI_COMMIT_BRANCH", branch);
            yield return ("CI_DEFAULT_BRANCH", branch);
        }
    }

    /// <summary>One variable per key, where it first appeared, holding the last value given (later sources win).</summary>
    private static IReadOnlyList<JobVariable> Deduplicate(IReadOnlyList<JobVariable> variables)
    {
        var byKey = new Dictionary<string, int>(StringComparer.Ordinal);
        var result = new List<JobVariable>();
        foreach (var variable in variables)
        {
            if (byKey.TryGetValue(variable.Key, out var index))
            {
                result[index] = variable;
            }
            else
            {
                byKey[variable.Key] = result.Count;
                result.Add(variable);
            }
        }
        return result;
    }

    /// <summary>GitLab's slug: lowercase, anything but a-z and 0-9 becomes '-', at most 63 characters, no '-' at the ends.</summary>
    public static string Slug(string text)
    {
        var builder = new StringBuilder(text.Length);
        foreach (var c in text.ToLowerInvariant())
        {
            builder.Append(c is >= 'a' and <= 'z' or >= '0' and <= '9' ? c : '-');
        }
        var slug = builder.ToString();
        if (slug.Length > 63)
        {
            slug = slug[..63];
        }
        return slug.Trim('-');
    }
}

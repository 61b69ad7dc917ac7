using Scheduler.Config;
using Scheduler.LocalCluster.Runtime;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Exec;

/// <summary>What <c>scheduler exec</c> was asked to do, as given on the command line (paths relative to the working directory).</summary>
public sealed record ExecRequest(
    string JobName,
    string CiFile,
    string? ConfigPath,
    string? KubeconfigPath,
    string ArtifactsDir,
    IReadOnlyList<string> Env,
    IReadOnlyList<string> Masked,
    string WorkingDirectory)
{
    public override string ToString() => $"ExecRequest {{ JobName = {JobName}, CiFile = {CiFile}, Env = {Env.Count}, Masked = {Masked.Count} }}";
}

/// <summary>A job ready to run: its payload, the settings and the runner entry it runs on, and what to warn about.</summary>
public sealed record PreparedExec(JobPayload Job, GlobalSettings Settings, RunnerEntry Runner, string ArtifactsDir, IReadOnlyList<string> Warnings);

/// <summary>A prepared job, or the one-line reasons the input is invalid (exit code 2).</summary>
public sealed record ExecPreparationResult(PreparedExec? Prepared, IReadOnlyList<string> Errors, IReadOnlyList<string> Warnings);

/// <summary>Everything exec checks before it touches a cluster: flags, the CI file, the job, the repository, the config.</summary>
public static class ExecPreparation
{
    public static async Task<ExecPreparationResult> PrepareAsync(ExecRequest request, CancellationToken ct)
    {
        var errors = new List<string>();
        var warnings = new List<string>();

        var flags = new List<ExecVariableFlag>();
        foreach (var (text, masked) in request.Env.Select(e => (e, false)).Concat(request.Masked.Select(m => (m, true))))
        {
            var (flag, error) = ExecJobPayloadBuilder.ParseFlag(text, masked);
            if (error is not null)
            {
                errors.Add(error);
            }
            else
            {
                flags.Add(flag!);
            }
        }

        var ciPath = Path.GetFullPath(request.CiFile, request.WorkingDirectory);
        CiJob? job = null;
        string? yaml = null;
        try
        {
            yaml = await File.ReadAllTextAsync(ciPath, ct);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException or NotSupportedException)
        {
            errors.Add($"cannot read {request.CiFile}: {(e is FileNotFoundException or DirectoryNotFoundException ? "file not found" : e.Message)}");
        }

        if (yaml is not null)
        {
            var parsed = CiFileParser.Parse(yaml, request.CiFile);
            errors.AddRange(parsed.Errors.Select(e => e.ToString()));
            warnings.AddRange(parsed.Warnings.Select(w => $"{w} (warning)"));
            if (parsed.File is { } file)
            {
                job = file.Job(request.JobName);
                if (job is null)
                {
                    errors.Add($"{request.CiFile} has no job \"{request.JobName}\"; its jobs: {string.Join(", ", file.Jobs.Select(j => j.Name))}");
                }
            }
        }

        var repository = await GitRepository.ReadAsync(request.WorkingDirectory, ct);
        if (repository.Error is not null)
        {
            errors.Add(repository.Error);
        }
        else if (repository.Info!.HasUncommittedChanges)
        {
            warnings.Add("the working tree has uncommitted changes: exec runs the committed HEAD " +
                         $"({repository.Info.Sha[..Math.Min(8, repository.Info.Sha.Length)]}), not the files on disk");
        }

        var config = request.ConfigPath is { } configPath
            ? ConfigLoader.LoadFile(Path.GetFullPath(configPath, request.WorkingDirectory))
            : BuiltInConfig();
        errors.AddRange(config.Errors.Select(e => e.ToString()));
        warnings.AddRange(config.Warnings.Select(w => w.ToString()));
        var runner = config.Settings?.Runners.FirstOrDefault();
        if (config.IsValid && runner is null)
        {
            errors.Add($"{request.ConfigPath}: no [[runners]] entry to run the job with");
        }

        if (errors.Count > 0 || job is null || runner is null || repository.Info is null)
        {
            return new ExecPreparationResult(null, errors, warnings);
        }

        var payload = ExecJobPayloadBuilder.Build(job, repository.Info,
            new ExecJobOptions(ExecJobPayloadBuilder.NewJobId(), ExecJobPayloadBuilder.NewJobToken(), flags, DateTimeOffset.UtcNow));
        // The embedded cluster's non-root pods cannot read a repository under /root or another closed directory: they
        // clone a copy made for them, removed when exec ends.
        try
        {
            if (await Helper.PodReachableCopy.RepositoryAsync(repository.Info.TopLevel, ct) is { } copy)
            {
                AppDomain.CurrentDomain.ProcessExit += (_, _) => TryDelete(Path.GetDirectoryName(copy)!);
                payload = payload with { GitInfo = payload.GitInfo with { RepoUrl = copy } };
            }
        }
        catch (IOException e)
        {
            return new ExecPreparationResult(null, [e.Message], warnings);
        }

        var artifactsDir = Path.GetFullPath(request.ArtifactsDir, request.WorkingDirectory);
        // exec runs one job: a limit of 0 or more is irrelevant, but `concurrent` must admit it.
        var settings = config.Settings! with { Concurrent = Math.Max(1, config.Settings!.Concurrent) };
        return new ExecPreparationResult(new PreparedExec(payload, settings, runner, artifactsDir, warnings), [], warnings);
    }

    private static void TryDelete(string directory)
    {
        try
        {
            Directory.Delete(directory, recursive: true);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
        }
    }

    private static ConfigLoadResult BuiltInConfig()
    {
        var cacheDir = ExecDefaults.CacheDir();
        try
        {
            Directory.CreateDirectory(cacheDir);
            // The embedded cluster's pods run as its non-root user: as root, the cache they keep between runs is theirs.
            if (Environment.IsPrivilegedProcess) FileOwnership.ChangeTree(cacheDir, PodUser.Default.Uid, PodUser.Default.Gid);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return new ConfigLoadResult(null, [new ConfigDiagnostic("(built-in config)", 0, 0, "", $"cannot create the cache directory {cacheDir}: {e.Message}", DiagnosticSeverity.Error)], []);
        }
        return ConfigLoader.LoadText(ExecDefaults.ConfigToml(cacheDir), "(built-in config)");
    }
}

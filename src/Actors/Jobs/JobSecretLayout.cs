namespace Scheduler.Actors.Jobs;

/// <summary>Where the job secret is mounted in the build and helper containers, and what it holds.
/// A stage-script generator reads the variables from here; only public variables are in the container env.</summary>
public static class JobSecretLayout
{
    public const string VolumeName = "scheduler-job";
    public const string MountPath = "/var/run/scheduler/job";
    /// <summary>The job token.</summary>
    public const string TokenKey = "job-token";
    /// <summary>One line per variable held here, in job order: <c>KEY\t(var|file)\t(raw|expand)\t(masked|plain)</c>.</summary>
    public const string ManifestKey = "variables";
    /// <summary>A variable's value is under <c>var.KEY</c>, a file variable's content under <c>file.KEY</c>.</summary>
    public const string VariablePrefix = "var.";
    public const string FilePrefix = "file.";
    /// <summary>The job payload as JSON (<c>JobPayloadParser.Parse</c> reads it back), so that another node can adopt the job;
    /// without registry credentials and dependency tokens (<c>JobPayload.WithoutForeignSecrets</c>).</summary>
    public const string PayloadKey = "job-payload";
    /// <summary>The script that exports the job's variables, sourced by every stage script (stored once for all stages).</summary>
    public const string VariablesScriptKey = "variables.sh";
}

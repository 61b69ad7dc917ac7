namespace Scheduler.Actors.Jobs;

/// <summary>The containers of a job's pod and where the build happens, as the pod (PodBuilder) and its stage scripts
/// (JobScripts) both name them.</summary>
public static class JobContainers
{
    /// <summary>Runs the job's own script (step_script, after_script).</summary>
    public const string Build = "build";

    /// <summary>Runs the runner's stages (sources, caches, artifacts) and reads the log.</summary>
    public const string Helper = "helper";

    /// <summary>The builds directory in the pod when the runner entry sets none.</summary>
    public const string DefaultBuildsDir = "/builds";
}

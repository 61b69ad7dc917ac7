namespace Scheduler.Actors.Execution;

/// <summary>Copies the job's artifact archives out of the pod (exec ReadFile in the helper container) into a local
/// directory. A missing archive (the upload stage found nothing, or did not run) is a warning, not a failure.</summary>
public static class ArtifactCollector
{
    private const int MaxAttempts = 3;

    /// <summary>Returns the warnings; each archive lands in <paramref name="dir"/> under its file name.</summary>
    public static async Task<IReadOnlyList<string>> CollectAsync(IKubernetesGateway gateway, JobExecutionPlan plan, string dir,
        CancellationToken ct)
    {
        var warnings = new List<string>();
        Directory.CreateDirectory(dir);
        foreach (var archive in plan.ArtifactArchives)
        {
            var name = Path.GetFileName(archive);
            if (name.Length == 0)
            {
                warnings.Add($"artifact archive path \"{archive}\" names no file");
                continue;
            }

            var target = Path.Combine(dir, name);
            var copied = false;
            for (var attempt = 1; attempt <= MaxAttempts && !copied; attempt++)
            {
                try
                {
                    await using (var file = new FileStream(target, FileMode.Create, FileAccess.Write))
                    {
                        var code = await gateway.ExecStreamingAsync(plan.Pod.Namespace, plan.Pod.PodName, plan.LogContainer,
                            plan.ReadFile(archive), async chunk => await file.WriteAsync(chunk, ct), ct);
                        if (code != 0)
                        {
                            warnings.Add($"no artifact archive {archive} in the pod");
                            attempt = MaxAttempts;
                        }
                        else
                        {
                            copied = true;
                        }
                    }
                }
                catch (ExecConnectionLostException) when (attempt < MaxAttempts)
                {
                    // read it again from the start: the file is rewritten
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    // A timed-out or refused read is a warning like any other failure; only the job's own cancellation ends it.
                    warnings.Add($"could not copy the artifact archive {archive}: {Faults.KubernetesFaults.Describe(e)}");
                    attempt = MaxAttempts;
                }
            }

            if (!copied && File.Exists(target))
            {
                File.Delete(target);
            }
        }

        return warnings;
    }
}

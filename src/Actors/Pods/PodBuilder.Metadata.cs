using System.Text;
using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

// Labels and annotations.
public static partial class PodBuilder
{
    private static Dictionary<string, string> SystemLabels(RunnerEntry runner, JobPayload job, int concurrentId) => new(StringComparer.Ordinal)
    {
        [PodMetadata.JobIdLabel] = job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [PodMetadata.ProjectIdLabel] = job.JobInfo.ProjectId.ToString(System.Globalization.CultureInfo.InvariantCulture),
        [PodMetadata.RunnerLabel] = RunnerLabelValue(runner.Name),
        [PodMetadata.ConcurrentIdLabel] = concurrentId.ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    /// <summary>The runner's name as a label value (<c>unnamed</c> when it has none): identifies the runner's pods.</summary>
    public static string RunnerLabelValue(string runnerName)
    {
        var value = KubernetesNames.ToRfc1123(runnerName);
        return value.Length > 0 ? value : "unnamed";
    }

    /// <summary>The <c>pod</c> label, config <c>pod_labels</c> (values expanded), the job's allowed
    /// <c>KUBERNETES_POD_LABELS_*</c> (already expanded), then the runner's own labels, which win.</summary>
    private static Dictionary<string, string> PodLabels(KubernetesSettings settings, IReadOnlyDictionary<string, string> jobLabels,
        JobVariableLookup lookup, string prefix, IReadOnlyDictionary<string, string> systemLabels)
    {
        var labels = new Dictionary<string, string>(StringComparer.Ordinal) { [PodMetadata.PodLabel] = prefix };
        foreach (var (key, value) in jobLabels)
        {
            if (!KubernetesNames.IsQualifiedName(key) || !KubernetesNames.IsLabelValue(value))
            {
                throw Refuse($"pod labels overwrite \"{key}={value}\" is not a valid label (key [prefix/]name, value at most 63 "
                             + "characters of [A-Za-z0-9-_.], starting and ending with a letter or digit)");
            }
        }

        foreach (var (key, raw) in settings.PodLabels)
        {
            if (!KubernetesNames.IsQualifiedName(key))
            {
                throw Refuse($"pod_labels key \"{key}\" is not a valid label key");
            }

            var value = lookup.ExpandShowable(raw, out var hidden);
            if (hidden is not null)
            {
                throw Refuse($"pod_labels \"{key}\" refers to the masked, non-public or file variable {hidden}; secrets never go into labels");
            }

            if (!KubernetesNames.IsLabelValue(value))
            {
                throw Refuse($"pod_labels \"{key}\" = \"{raw}\" gives \"{value}\", which is not a valid label value " +
                             "(at most 63 characters of [A-Za-z0-9-_.], starting and ending with a letter or digit)");
            }

            labels[key] = value;
        }

        foreach (var (key, value) in jobLabels)
        {
            labels[key] = value;
        }

        // The runner's own labels win: adoption depends on them.
        foreach (var (key, value) in systemLabels)
        {
            labels[key] = value;
        }

        return labels;
    }

    private static Dictionary<string, string> PodAnnotations(ResolvedOverwrites overwrites, RunnerEntry runner, JobPayload job,
        string jobSecretName)
    {
        var annotations = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var (key, value) in overwrites.PodAnnotations)
        {
            if (!KubernetesNames.IsQualifiedName(key))
            {
                throw Refuse($"pod annotation key \"{key}\" is not a valid annotation key");
            }

            annotations[key] = value;
        }

        var info = job.JobInfo;
        annotations[PodMetadata.JobIdLabel] = job.Id.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[PodMetadata.JobNameAnnotation] = info.Name;
        annotations[PodMetadata.JobStageAnnotation] = info.Stage;
        annotations[PodMetadata.PipelineIdAnnotation] = info.PipelineId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[PodMetadata.ProjectIdLabel] = info.ProjectId.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[PodMetadata.ProjectNameAnnotation] = info.ProjectName;
        annotations[PodMetadata.ProjectPathAnnotation] = info.ProjectFullPath;
        annotations[PodMetadata.RefAnnotation] = job.GitInfo.Ref;
        annotations[PodMetadata.ShaAnnotation] = job.GitInfo.Sha;
        annotations[PodMetadata.RunnerNameAnnotation] = runner.Name;
        annotations[PodMetadata.TimeoutAnnotation] = job.RunnerInfo.EffectiveTimeoutSeconds.ToString(System.Globalization.CultureInfo.InvariantCulture);
        annotations[PodMetadata.JobSecretAnnotation] = jobSecretName;
        return annotations;
    }
}

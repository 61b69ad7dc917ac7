using System.Text;
using System.Text.Json;
using k8s.Models;
using Scheduler.Actors.Jobs;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Actors.Pods;

// Images: the build, helper and service images, their pull policies and the allow-lists.
public static partial class PodBuilder
{
    private static string BuildImage(JobPayload job, KubernetesSettings settings, JobVariableLookup lookup)
    {
        var name = job.Image?.Name;
        if (string.IsNullOrWhiteSpace(name))
        {
            name = settings.Image;
        }

        if (string.IsNullOrWhiteSpace(name))
        {
            throw Refuse("no image specified and no default set in config");
        }

        return ExpandImage(name, lookup, "image");
    }

    private static string ExpandImage(string name, JobVariableLookup lookup, string what)
    {
        var image = lookup.ExpandShowable(name, out var hidden);
        if (hidden is not null)
        {
            throw Refuse($"{what} \"{name}\" refers to the masked, non-public or file variable {hidden}; secrets never go into the pod spec");
        }

        if (string.IsNullOrWhiteSpace(image))
        {
            throw Refuse($"{what} \"{name}\" expands to an empty image name");
        }

        if (image.Trim() != image)
        {
            throw Refuse($"{what} \"{image}\" has leading or trailing whitespace");
        }

        return image;
    }

    private static string HelperImage(string? configured, RunnerIdentity identity)
    {
        if (string.IsNullOrWhiteSpace(configured))
        {
            return DefaultHelperImage(identity.Version);
        }

        var image = VariableExpander.Expand(configured, name => name switch
        {
            "CI_RUNNER_VERSION" => identity.Version,
            "CI_RUNNER_REVISION" => identity.Revision,
            "CI_RUNNER_EXECUTABLE_ARCH" => identity.Architecture,
            _ => null,
        });
        return string.IsNullOrWhiteSpace(image) ? throw Refuse($"helper_image \"{configured}\" expands to an empty image name") : image;
    }

    /// <summary>The imagePullPolicy of one container: the first policy that <c>allowed_pull_policies</c> allows (see
    /// <see cref="ImagePolicy.EffectivePullPolicies"/>); retrying a failed pull with the next one is not implemented.</summary>
    private static string? PullPolicy(KubernetesSettings settings, IReadOnlyList<string> fromJob, string what)
    {
        var unknown = settings.PullPolicy.Concat(settings.AllowedPullPolicies).FirstOrDefault(p => !ImagePolicy.PullPolicies.Contains(p));
        if (unknown is not null)
        {
            throw Refuse($"unsupported pull_policy \"{unknown}\": use always, never or if-not-present");
        }

        var (policies, refusal) = ImagePolicy.EffectivePullPolicies(fromJob, settings.PullPolicy, settings.AllowedPullPolicies);
        return refusal is not null
            ? throw Refuse($"{what}: {refusal}")
            : ImagePolicy.KubernetesPullPolicy(policies.FirstOrDefault());
    }

    /// <summary><c>allowed_images</c> and <c>allowed_services</c> bound what the job asks for; the config's own image and
    /// services are always allowed (GitLab Runner's "internal images").</summary>
    private static void CheckAllowedImages(JobPayload job, KubernetesSettings settings, string image, IEnumerable<JobService> jobServices,
        JobVariableLookup lookup)
    {
        if (!string.IsNullOrWhiteSpace(job.Image?.Name) && image != settings.Image && !ImagePolicy.IsAllowed(image, settings.AllowedImages))
        {
            throw Refuse(ImagePolicy.NotAllowed("image", image, "allowed_images", settings.AllowedImages));
        }

        foreach (var service in jobServices)
        {
            var name = ExpandImage(service.Name, lookup, $"service \"{service.Name}\" image");
            if (!ImagePolicy.IsAllowed(name, settings.AllowedServices))
            {
                throw Refuse(ImagePolicy.NotAllowed("service image", name, "allowed_services", settings.AllowedServices));
            }
        }
    }

    private static int ConfiguredServiceCount(KubernetesSettings settings) => settings.Services.Count(s => !string.IsNullOrWhiteSpace(s.Name));
}

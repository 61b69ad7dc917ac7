namespace Scheduler.Actors.Pods;

/// <summary>
/// Which <c>helper_image</c> can serve as the helper. The helper container runs <c>scheduler helper …</c> (artifacts,
/// cache, logs), which only this project's image has; GitLab's <c>gitlab-runner-helper</c> or any other image would fail
/// the job at its first stage, so config.toml refuses them when it loads.
/// </summary>
/// <remarks>
/// The rule: the image's repository (without registry port, tag or digest) must have <c>scheduler</c> as its last path
/// component, as the default <c>scheduler:&lt;version&gt;</c> does and any mirror of it keeps
/// (<c>registry.example.com/ci/scheduler:1.4</c>). A tag may use <c>${CI_RUNNER_VERSION}</c> and the other runner
/// variables; they are expanded when the pod is built.
/// </remarks>
public static class HelperImageRule
{
    public const string RequiredName = "scheduler";

    /// <summary>Null when <paramref name="image"/> may be the helper; otherwise why not and what to use instead.</summary>
    public static string? Error(string image)
    {
        var repository = Repository(image);
        var last = repository[(repository.LastIndexOf('/') + 1)..];
        if (string.Equals(last, RequiredName, StringComparison.OrdinalIgnoreCase))
        {
            return null;
        }

        var what = last.Contains("gitlab-runner-helper", StringComparison.OrdinalIgnoreCase)
            ? $"\"{image}\" is GitLab Runner's helper image, which does not have this runner's helper commands (scheduler helper)"
            : $"\"{image}\" is not this runner's image (its name must end in /{RequiredName} or be {RequiredName}), so it has no scheduler helper commands";
        return what + $"; remove helper_image to use the default {RequiredName}:<version>, or name a mirror of that image whose "
            + $"repository ends in /{RequiredName}, e.g. registry.example.com/ci/{RequiredName}:<version>";
    }

    /// <summary>The repository of an image reference: without <c>@digest</c> and <c>:tag</c> (a registry's <c>:port</c>,
    /// before the first '/', stays).</summary>
    public static string Repository(string image)
    {
        var name = image.Trim();
        var at = name.IndexOf('@', StringComparison.Ordinal);
        if (at >= 0)
        {
            name = name[..at];
        }

        var colon = name.LastIndexOf(':');
        return colon > name.LastIndexOf('/') ? name[..colon] : name;
    }
}

using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Images;

public enum ImageSourceKind
{
    /// <summary>The container runs on this machine's filesystem; <see cref="ImageSource.Message"/> says why.</summary>
    Host,
    /// <summary>The image is pulled (or found in the store) and the container runs in its own root.</summary>
    Store,
    /// <summary>The name is not an image reference (InvalidImageName).</summary>
    Invalid,
    /// <summary>The node was told the image is missing (<c>--missing-images</c>): the pull fails.</summary>
    Missing,
}

public sealed record ImageSource(ImageSourceKind Kind, ImageReference? Reference, string? Message);

/// <summary>
/// Where a container's image comes from, the rule of the embedded cluster. Pure.
/// <list type="number">
/// <item>A name matching the node's <c>--missing-images</c> globs fails to pull (for tests of pull failures).</item>
/// <item>A name that is not an image reference is InvalidImageName.</item>
/// <item>The runner's own image, <c>scheduler</c> with any tag and no registry (the default helper image
/// <c>scheduler:&lt;version&gt;</c>), is this project's install on this machine: it runs on the host's filesystem.</item>
/// <item>With <see cref="NodeSettings.UseImages"/> off (<c>--host-images</c>), every container runs on the host's filesystem,
/// and its Pulled event says so.</item>
/// <item>Any other image is pulled into the node's store and the container runs in it.</item>
/// </list>
/// </summary>
public static class ImageSources
{
    public const string RunnerRepository = "docker.io/library/scheduler";

    public static ImageSource Decide(string image, NodeSettings node)
    {
        if (node.MissingImages.Any(pattern => GlobMatches(pattern, image)))
        {
            return new ImageSource(ImageSourceKind.Missing, null, $"Failed to pull image \"{image}\": image not found on the local node");
        }
        var reference = ImageReference.Parse(image, out var error);
        if (reference is null)
        {
            return new ImageSource(ImageSourceKind.Invalid, null,
                $"Failed to apply default image tag \"{image}\": couldn't parse image name \"{image}\": {error}");
        }
        if (reference.Name == RunnerRepository && !image.Contains('/'))
        {
            return new ImageSource(ImageSourceKind.Host, reference,
                $"Container image \"{image}\" is the runner's own install: it runs on this machine's filesystem, not pulled");
        }
        if (!node.UseImages)
        {
            return new ImageSource(ImageSourceKind.Host, reference,
                $"Container image \"{image}\" not pulled: this node runs every container on the host's filesystem (host images), not in its image");
        }
        return new ImageSource(ImageSourceKind.Store, reference, null);
    }

    public static bool GlobMatches(string pattern, string value) =>
        System.Text.RegularExpressions.Regex.IsMatch(value,
            "^" + System.Text.RegularExpressions.Regex.Escape(pattern).Replace("\\*", ".*").Replace("\\?", ".") + "$");
}

using Scheduler.LocalCluster.Runtime;

namespace Scheduler.LocalCluster.Tests.Runtime;

public sealed class NodePathsTests
{
    [Theory]
    [InlineData("build", true)]
    [InlineData("0b6f6d3e-1c2a-4b9e-9f00-5f5e1c2d3a4b", true)]
    [InlineData("repo.cache_1", true)]
    [InlineData("..", false)]
    [InlineData(".", false)]
    [InlineData("../../etc", false)]
    [InlineData("a/b", false)]
    [InlineData("", false)]
    [InlineData(null, false)]
    public void Only_plain_names_are_kept(string? name, bool kept)
    {
        var segment = NodePaths.SafeSegment(name);

        Assert.Equal(kept, segment == name);
        Assert.DoesNotContain('/', segment);
        Assert.NotEqual("..", segment);
        Assert.Equal(segment, NodePaths.SafeSegment(name));
    }

    [Theory]
    [InlineData("cache", true)]
    [InlineData("a/b/c.txt", true)]
    [InlineData("/etc/passwd", false)]
    [InlineData("../up", false)]
    [InlineData("a/../../up", false)]
    [InlineData("", false)]
    public void Relative_paths_must_stay_inside(string path, bool contained) =>
        Assert.Equal(contained, NodePaths.IsContainedRelativePath(path));
}

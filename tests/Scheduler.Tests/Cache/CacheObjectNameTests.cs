using Scheduler.Cache;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Cache;

/// <summary>GitLab Runner's layout of cache objects, so a bucket GitLab Runner filled is found and shared.</summary>
public sealed class CacheObjectNameTests
{
    [Theory]
    [InlineData("", false, "glrt-abcdefghijkl", "deps", "runner/abcdefghi/project/7/deps")]
    [InlineData("", true, "glrt-abcdefghijkl", "deps", "project/7/deps")]
    [InlineData("ci/cache", false, "glrt-abcdefghijkl", "a/b", "ci/cache/runner/abcdefghi/project/7/a/b")]
    [InlineData("/ci/cache/", true, "x", "k", "ci/cache/project/7/k")]
    [InlineData("", false, "glrt-t2_abcdefghijkl", "k", "runner/abcdefghi/project/7/k")]
    [InlineData("", false, "t1_zyxwvutsrqp", "k", "runner/zyxwvutsr/project/7/k")]
    [InlineData("", false, "GR1348941abcdefghijkl", "k", "runner/abcdefghi/project/7/k")]
    [InlineData("", false, "short", "k", "runner/short/project/7/k")]
    [InlineData("", true, "x", "a/../b", "project/7/b")]
    [InlineData("", true, "x", "../other-project/k", null)]
    [InlineData("", true, "x", "..", null)]
    public void Object_names_follow_GitLab_Runner(string path, bool shared, string token, string key, string? expected) =>
        Assert.Equal(expected, CacheObjectName.For(new CacheSettings { Type = "s3", Path = path, Shared = shared }, token, 7, key));
}

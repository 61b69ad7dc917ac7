using Scheduler.Helper;

namespace Scheduler.Scheduler.Tests.Helper;

public sealed class PathPatternsTests
{
    [Theory]
    [InlineData("*.txt", "a.txt", true)]
    [InlineData("*.txt", "dir/a.txt", false)]
    [InlineData("**/*.txt", "a.txt", true)]
    [InlineData("**/*.txt", "x/y/a.txt", true)]
    [InlineData("src/**", "src/a/b", true)]
    [InlineData("src/**/test", "src/test", true)]
    [InlineData("src/**/test", "src/a/b/test", true)]
    [InlineData("src/**/test", "src/a/btest", false)]
    [InlineData("a?c", "abc", true)]
    [InlineData("a?c", "a/c", false)]
    [InlineData("[ab].md", "b.md", true)]
    [InlineData("[!ab].md", "b.md", false)]
    [InlineData("[!ab].md", "c.md", true)]
    [InlineData("file(1).txt", "file(1).txt", true)]
    [InlineData("a+b", "aab", false)]
    [InlineData("[unclosed", "[unclosed", true)]
    public void Globs_match_like_doublestar(string pattern, string path, bool matches) =>
        Assert.Equal(matches, PathPatterns.ToRegex(pattern).IsMatch(path));

    [Theory]
    [InlineData("a/b", "a/b")]
    [InlineData("./a/b/", "a/b")]
    [InlineData("a/../b", "b")]
    [InlineData(".", "")]
    [InlineData("/p/sub/x", "sub/x")]
    [InlineData("../x", null)]
    [InlineData("/etc", null)]
    [InlineData("/pother", null)]
    public void Paths_are_made_relative_to_the_project(string pattern, string? expected) =>
        Assert.Equal(expected, PathPatterns.Relative(pattern, "/p"));
}

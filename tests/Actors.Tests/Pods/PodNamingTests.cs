using Scheduler.Actors.Pods;

namespace Scheduler.Actors.Tests.Pods;

public sealed class PodNamingTests
{
    [Theory]
    [InlineData("abcdefgh1234", 42, 0, "runner-abcdefgh-project-42-concurrent-0")]
    [InlineData("ABCDEFGH1234", 42, 3, "runner-abcdefgh-project-42-concurrent-3")]
    [InlineData("abc", 1, 0, "runner-abc-project-1-concurrent-0")]
    [InlineData("glrt_A.b", 7, 1, "runner-glrtab-project-7-concurrent-1")] // dropped, not replaced, as GitLab Runner does
    [InlineData("", 7, 1, "runner--project-7-concurrent-1")]
    // 54 characters at most, so that "-" and 8 random characters fit in 63; a cut never ends with "-".
    [InlineData("abcdefgh", 123456789012345678, 12, "runner-abcdefgh-project-123456789012345678-concurrent")]
    [InlineData("abcdefgh", 12345678901234567, 99999, "runner-abcdefgh-project-12345678901234567-concurrent-9")]
    public void Prefix_is_the_rfc1123_project_unique_name(string token, long projectId, int concurrentId, string expected)
    {
        var prefix = PodNaming.Prefix(token, projectId, concurrentId);

        Assert.Equal(expected, prefix);
        Assert.True(prefix.Length <= PodNaming.MaxPrefixLength);
        Assert.True(KubernetesNames.IsDns1123Label(PodNaming.PodName(prefix, "abcd1234")));
    }

    [Fact]
    public void Pod_name_is_prefix_dash_suffix_within_63_characters()
    {
        var prefix = PodNaming.Prefix("abcdefgh", long.MaxValue, int.MaxValue);

        var name = PodNaming.PodName(prefix, "0a1b2c3d");

        Assert.True(name.Length <= 63, name);
        Assert.EndsWith("-0a1b2c3d", name);
        Assert.StartsWith(prefix, name);
        Assert.True(KubernetesNames.IsDns1123Label(name));
    }

    [Fact]
    public void Random_suffixes_are_8_lowercase_alphanumerics_and_differ()
    {
        var suffixes = Enumerable.Range(0, 50).Select(_ => PodNaming.RandomSuffix()).ToList();

        Assert.All(suffixes, s => Assert.True(PodNaming.IsValidSuffix(s), s));
        Assert.True(suffixes.Distinct().Count() > 45);
    }

    [Theory]
    [InlineData("ABCD1234")]
    [InlineData("abc")]
    [InlineData("abcd-123")]
    public void An_invalid_suffix_is_a_programming_error(string suffix)
    {
        Assert.Throws<ArgumentException>(() => PodNaming.PodName("runner-x", suffix));
    }

    [Theory]
    [InlineData("a", true)]
    [InlineData("a-b.c_d", true)]
    [InlineData("", true)]
    [InlineData("-a", false)]
    [InlineData("a_", false)]
    [InlineData("a b", false)]
    [InlineData("a/b", false)]
    public void Label_values(string value, bool valid)
    {
        Assert.Equal(valid, KubernetesNames.IsLabelValue(value));
    }

    [Fact]
    public void Label_values_are_at_most_63_characters()
    {
        Assert.True(KubernetesNames.IsLabelValue(new string('a', 63)));
        Assert.False(KubernetesNames.IsLabelValue(new string('a', 64)));
    }

    [Theory]
    [InlineData("app", true)]
    [InlineData("example.com/app", true)]
    [InlineData("scheduler/job-id", true)]
    [InlineData("Example.com/app", false)]
    [InlineData("/app", false)]
    [InlineData("a/b/c", false)]
    [InlineData("", false)]
    [InlineData("app-", false)]
    public void Qualified_names(string value, bool valid)
    {
        Assert.Equal(valid, KubernetesNames.IsQualifiedName(value));
    }
}

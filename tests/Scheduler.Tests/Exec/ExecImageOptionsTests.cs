using Scheduler.Exec;

namespace Scheduler.Scheduler.Tests.Exec;

/// <summary><c>scheduler exec</c> reads <c>image: {name, kubernetes: {user}}</c> and a service's <c>kubernetes: {user}</c>
/// into the payload, as GitLab sends them in <c>executor_opts</c>.</summary>
public sealed class ExecImageOptionsTests
{
    private static readonly GitRepositoryInfo Repo = new("/src/p", "0123456789abcdef0123456789abcdef01234567", "main", false, "m");

    [Theory]
    [InlineData("1001", "1001")]
    [InlineData("\"1001:1002\"", "1001:1002")]
    [InlineData("root", "root")] // checked (and not applied, with a warning) when the pod is built, as GitLab Runner does
    public void The_image_and_service_users_reach_the_payload(string yaml, string expected)
    {
        var parsed = CiFileParser.Parse($$"""
            job:
              image: { name: alpine, kubernetes: { user: {{yaml}} } }
              services: [{ name: redis, kubernetes: { user: {{yaml}} } }]
              script: [id]
            """, "ci.yml");
        Assert.True(parsed.IsSuccess, string.Join("\n", parsed.Errors));
        Assert.Empty(parsed.Warnings);

        var payload = ExecJobPayloadBuilder.Build(parsed.File!.Job("job")!, Repo,
            new ExecJobOptions(42, "glcbt-exec-secret", [], DateTimeOffset.UnixEpoch));

        Assert.Equal(expected, payload.Image!.ExecutorOpts.Kubernetes.User);
        Assert.Equal(expected, payload.Services[0].ExecutorOpts.Kubernetes.User);
    }

    [Fact]
    public void Other_kubernetes_options_are_warnings_and_a_non_mapping_is_an_error()
    {
        var warned = CiFileParser.Parse("job:\n  image: { name: alpine, kubernetes: { user: 1, platform: x } }\n  script: [id]\n", "ci.yml");
        var failed = CiFileParser.Parse("job:\n  image: { name: alpine, kubernetes: 1001 }\n  script: [id]\n", "ci.yml");

        Assert.True(warned.IsSuccess);
        Assert.Equal([("job:image:kubernetes:platform", "unknown kubernetes option, ignored (only user is supported)")],
            warned.Warnings.Select(w => (w.Key, w.Message)));
        Assert.False(failed.IsSuccess);
    }
}

using Scheduler.Messages.Jobs;

namespace Scheduler.Messages.Tests.Jobs;

public sealed class JobPayloadParserTests
{
    [Fact]
    public void Parses_the_example_payload_with_every_section()
    {
        var json = File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "examples", "job.json"));

        var result = JobPayloadParser.Parse(json);

        Assert.True(result.IsSuccess, result.Error);
        var job = result.Payload!;
        Assert.Equal(265, job.Id);
        Assert.Equal("glcbt-64_zyxwvutsrqpo", job.Token);
        Assert.True(job.AllowGitFetch);
        Assert.Equal(("test", "test", 4L, "gitlab-test", "test/gitlab-test", 120L),
            (job.JobInfo.Name, job.JobInfo.Stage, job.JobInfo.ProjectId, job.JobInfo.ProjectName, job.JobInfo.ProjectFullPath, job.JobInfo.PipelineId));
        Assert.Equal("main", job.GitInfo.Ref);
        Assert.Equal("265c14cf140a66cfc61e40e4ab45c95ba8df5ed1", job.GitInfo.Sha);
        Assert.Equal("fc40ad32cdd36b814f07a540605110edc209a38c", job.GitInfo.BeforeSha);
        Assert.Equal("branch", job.GitInfo.RefType);
        Assert.Equal(2, job.GitInfo.Refspecs.Count);
        Assert.Equal(50, job.GitInfo.Depth);
        Assert.Equal(3600, job.RunnerInfo.Timeout);
        Assert.True(string.IsNullOrEmpty(job.RunnerInfo.RunnerSessionUrl));

        var deployKey = Assert.Single(job.Variables, v => v.Key == "DEPLOY_KEY");
        Assert.Equal((false, true, false), (deployKey.Public, deployKey.Masked, deployKey.File));
        var settings = Assert.Single(job.Variables, v => v.Key == "APP_SETTINGS");
        Assert.True(settings.File);
        Assert.Equal("mode: test\nretries: 3\n", settings.Value);
        Assert.True(Assert.Single(job.Variables, v => v.Key == "RAW_TEMPLATE").Raw);

        Assert.Equal(["script", "after_script"], job.Steps.Select(s => s.Name));
        Assert.Equal(["bundle install", "bundle exec rake test"], job.Steps[0].Script);
        Assert.Equal(("always", true), (job.Steps[1].When, job.Steps[1].AllowFailure));

        Assert.Equal("ruby:3.3", job.Image!.Name);
        Assert.Empty(job.Image.Entrypoint);
        var service = Assert.Single(job.Services);
        Assert.Equal(("postgres:16", "db"), (service.Name, service.Alias));
        Assert.Equal(["postgres", "-c", "fsync=off"], service.Command);
        Assert.Equal("POSTGRES_HOST_AUTH_METHOD", Assert.Single(service.Variables).Key);

        Assert.Equal(2, job.Artifacts.Count);
        Assert.Equal(("artifacts", "archive", "zip", "7d", "on_success"),
            (job.Artifacts[0].Name, job.Artifacts[0].Type, job.Artifacts[0].Format, job.Artifacts[0].ExpireIn, job.Artifacts[0].When));
        Assert.Equal(["coverage/tmp/**"], job.Artifacts[0].Exclude);
        Assert.Equal(("junit", "gzip"), (job.Artifacts[1].Type, job.Artifacts[1].Format));
        var cache = Assert.Single(job.Cache);
        Assert.Equal(("gems-non_protected", "pull-push", "on_success"), (cache.Key, cache.Policy, cache.When));
        Assert.Equal(["vendor/bundle/"], cache.Paths);
        var credential = Assert.Single(job.Credentials);
        Assert.True(credential.IsRegistry);
        Assert.Equal(("registry.example.com", "gitlab-ci-token"), (credential.Url, credential.Username));
        var dependency = Assert.Single(job.Dependencies);
        Assert.Equal((264L, "build", "artifacts.zip", 1024L),
            (dependency.Id, dependency.Name, dependency.ArtifactsFile!.Filename, dependency.ArtifactsFile.Size));
        Assert.True(job.Features.TraceSections);
        Assert.Contains("script_failure", job.Features.FailureReasons);
        Assert.Equal(["glcbt-"], job.Features.TokenMaskPrefixes);
    }

    [Fact]
    public void A_minimal_payload_gets_defaults()
    {
        var result = JobPayloadParser.Parse("""{"id": 7, "token": "t0k"}""");

        Assert.True(result.IsSuccess, result.Error);
        var job = result.Payload!;
        Assert.Equal((7L, "t0k"), (job.Id, job.Token));
        Assert.Null(job.Image);
        Assert.Empty(job.Variables);
        Assert.Empty(job.Services);
        Assert.Empty(job.Steps);
        Assert.Equal("", job.JobInfo.Name);
        Assert.Equal(RunnerInfo.DefaultTimeoutSeconds, job.RunnerInfo.EffectiveTimeoutSeconds);
    }

    [Theory]
    // GitLab's own fixtures send entrypoint/command as strings, and null for absent lists and strings.
    [InlineData("""{"id":1,"token":"t","image":{"name":"a","entrypoint":"/bin/sh"}}""", "/bin/sh")]
    [InlineData("""{"id":1,"token":"t","image":{"name":"a","entrypoint":"sleep 30"}}""", "sleep|30")]
    [InlineData("""{"id":1,"token":"t","image":{"name":"a","entrypoint":["x","y z"]}}""", "x|y z")]
    [InlineData("""{"id":1,"token":"t","image":{"name":"a","entrypoint":null,"alias":null,"ports":null}}""", "")]
    public void Entrypoint_accepts_a_string_an_array_or_null(string json, string expected)
    {
        var result = JobPayloadParser.Parse(json);

        Assert.True(result.IsSuccess, result.Error);
        Assert.Equal(expected, string.Join('|', result.Payload!.Image!.Entrypoint));
    }

    [Fact]
    public void Unknown_fields_are_ignored_and_nulls_become_empty()
    {
        var result = JobPayloadParser.Parse("""
            {"id": 3, "token": "t", "brand_new": {"x": [1, 2]}, "variables": null, "services": null,
             "job_info": {"name": null, "scoped_user_id": null}, "secrets": {"A": {"vault": {}}}}
            """);

        Assert.True(result.IsSuccess, result.Error);
        Assert.Empty(result.Payload!.Variables);
        Assert.Equal("", result.Payload.JobInfo.Name);
    }

    [Theory]
    [InlineData("", "empty")]
    [InlineData("   ", "empty")]
    [InlineData("{", "line 1")]
    [InlineData("not json", "line 1")]
    [InlineData("[1,2]", "$")]
    [InlineData("null", "null")]
    [InlineData("{\"id\": 1,\n \"token\": \"t\",\n \"variables\": [\n {\"key\": \"A\" \"value\": \"b\"}]}", "line 4")]
    [InlineData("{\"id\": 1, \"token\": \"t\",}", "line 1")]
    public void Malformed_json_is_an_error_not_an_exception(string json, string expectedFragment)
    {
        var result = JobPayloadParser.Parse(json);

        Assert.False(result.IsSuccess);
        Assert.Null(result.Payload);
        Assert.Contains(expectedFragment, result.Error);
    }

    [Theory]
    [InlineData("""{"id": "ten", "token": "t"}""", "$.id")]
    [InlineData("""{"id": 1.5, "token": "t"}""", "$.id")]
    [InlineData("""{"id": 1, "token": 5}""", "$.token")]
    [InlineData("""{"id": 1, "token": "t", "variables": {"key": "A"}}""", "$.variables")]
    [InlineData("""{"id": 1, "token": "t", "variables": [{"key": "A", "public": "yes"}]}""", "$.variables[0].public")]
    [InlineData("""{"id": 1, "token": "t", "image": {"name": "a", "entrypoint": 5}}""", "$.image.entrypoint")]
    [InlineData("""{"id": 1, "token": "t", "image": {"name": "a", "entrypoint": ["a", 5]}}""", "$.image.entrypoint")]
    [InlineData("""{"id": 1, "token": "t", "runner_info": {"timeout": "1h"}}""", "$.runner_info.timeout")]
    [InlineData("""{"id": 1, "token": "t", "job_info": []}""", "$.job_info")]
    [InlineData("""{"id": 1, "token": "t", "steps": [{"name": "script", "script": "echo"}]}""", "$.steps[0].script")]
    [InlineData("""{"id": 99999999999999999999, "token": "t"}""", "$.id")]
    public void Wrong_types_name_the_json_path(string json, string expectedPath)
    {
        var result = JobPayloadParser.Parse(json);

        Assert.False(result.IsSuccess);
        Assert.Contains(expectedPath, result.Error);
        Assert.Contains("line 1", result.Error);
    }

    [Theory]
    [InlineData("""{"id": 1, "token": "t", "variables": [null]}""", "$.variables[0]")]
    [InlineData("""{"id": 1, "token": "t", "services": [{"name": "a", "variables": [{"key": "K"}, null]}]}""", "$.services[0].variables[1]")]
    [InlineData("""{"id": 1, "token": "t", "image": {"name": "a", "ports": [null]}}""", "$.image.ports[0]")]
    [InlineData("""{"token": "t"}""", "id")]
    [InlineData("""{"id": 5}""", "token")]
    [InlineData("""{"id": 5, "token": ""}""", "token")]
    [InlineData("""{"id": 0, "token": "t"}""", "id")]
    public void Id_and_token_are_required(string json, string field)
    {
        var result = JobPayloadParser.Parse(json);

        Assert.False(result.IsSuccess);
        Assert.Contains(field, result.Error);
    }

    [Fact]
    public void Every_truncation_or_corruption_of_a_payload_is_an_error_and_never_an_exception()
    {
        var json = File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "examples", "job.json"));
        var damaged = Enumerable.Range(1, json.Length - 2).Where(i => i % 7 == 0).Select(i => json[..i])
            .Concat(Enumerable.Range(1, json.Length - 2).Where(i => i % 13 == 0).Select(i => json[..i] + "\"\\u00" + json[(i + 1)..]))
            .ToList();

        foreach (var text in damaged)
        {
            var result = JobPayloadParser.Parse(text);
            Assert.True(result.IsSuccess || !string.IsNullOrEmpty(result.Error));
        }

        Assert.All(damaged.Where(t => t.Length < json.Length / 2), t => Assert.False(JobPayloadParser.Parse(t).IsSuccess));
    }

    [Fact]
    public void ToString_never_prints_secrets()
    {
        var json = File.ReadAllText(Path.Combine(RepositoryPaths.Root(), "examples", "job.json"));
        var job = JobPayloadParser.Parse(json).Payload!;

        var printed = string.Join("\n", new object[] { job, job.GitInfo }
            .Concat(job.Variables).Concat(job.Credentials).Concat(job.Dependencies).Select(o => o.ToString()));

        Assert.DoesNotContain("glcbt-64_zyxwvutsrqpo", printed);
        Assert.DoesNotContain("s3cr3t-deploy-key-123", printed);
        Assert.DoesNotContain("retries: 3", printed);
        Assert.Contains("CI_JOB_URL", printed);
    }
}

using Scheduler.Exec;

namespace Scheduler.Scheduler.Tests.Exec;

public class CiFileParserTests
{
    private static CiFile Parsed(string yaml)
    {
        var result = CiFileParser.Parse(yaml, ".gitlab-ci.yml");
        Assert.True(result.IsSuccess, string.Join("\n", result.Errors));
        return result.File!;
    }

    private static CiJob OnlyJob(string yaml) => Assert.Single(Parsed(yaml).Jobs);

    [Fact]
    public void Jobs_are_the_top_level_keys_that_are_neither_reserved_nor_hidden()
    {
        var file = Parsed("""
            stages: [build, test]
            variables: { A: "1" }
            default: { image: alpine }
            .hidden: { script: [echo hidden] }
            build: { stage: build, script: [echo b] }
            unit: { script: [echo u] }
            """);

        Assert.Equal(["build", "unit"], file.Jobs.Select(j => j.Name));
        Assert.Equal([".pre", "build", "test", ".post"], file.Stages);
        Assert.Equal("build", file.Job("build")!.Stage);
        Assert.Equal("test", file.Job("unit")!.Stage);
    }

    [Theory]
    [InlineData("script: echo one", new[] { "echo one" })]
    [InlineData("script: [a, b]", new[] { "a", "b" })]
    [InlineData("script: [a, [b, c], d]", new[] { "a", "b", "c", "d" })]
    [InlineData("script:\n    - |\n      line1\n      line2", new[] { "line1\nline2\n" })]
    [InlineData("script: [42]", new[] { "42" })]
    public void Scripts_are_a_string_or_a_list_with_nested_lists_flattened(string scriptYaml, string[] expected)
    {
        var job = OnlyJob($"job:\n  {scriptYaml}\n");
        Assert.Equal(expected, job.Script);
    }

    [Fact]
    public void Default_and_global_keys_apply_unless_the_job_overrides_them()
    {
        var file = Parsed("""
            image: global-image
            before_script: [global-before]
            default:
              image: default-image
              after_script: [default-after]
              cache: { key: deps, paths: [vendor/] }
              artifacts: { paths: [out/] }
              timeout: 10m
            plain: { script: [s] }
            custom:
              image: { name: own-image, entrypoint: [""] }
              before_script: []
              cache: []
              timeout: 1h
              script: [s]
            """);

        var plain = file.Job("plain")!;
        Assert.Equal("default-image", plain.Image!.Name);
        Assert.Empty(plain.Image.Entrypoint);
        Assert.Equal(["global-before"], plain.BeforeScript);
        Assert.Equal(["default-after"], plain.AfterScript);
        Assert.Equal("deps", Assert.Single(plain.Cache).Key);
        Assert.Equal(["out/"], plain.Artifacts!.Paths);
        Assert.Equal(600, plain.TimeoutSeconds);

        var custom = file.Job("custom")!;
        Assert.Equal("own-image", custom.Image!.Name);
        Assert.Equal([""], custom.Image.Entrypoint);
        Assert.Empty(custom.BeforeScript);
        Assert.Empty(custom.Cache);
        Assert.Equal(3600, custom.TimeoutSeconds);
    }

    [Fact]
    public void Job_variables_follow_global_ones_and_accept_numbers_and_value_mappings()
    {
        var job = OnlyJob("""
            variables:
              GREETING: hello
              COUNT: 3
            job:
              variables:
                GREETING: { value: hi, description: "who to greet" }
                FLAG: true
              script: [echo]
            """);

        Assert.Equal(
            [new CiVariable("GREETING", "hello"), new CiVariable("COUNT", "3"), new CiVariable("GREETING", "hi"), new CiVariable("FLAG", "true")],
            job.Variables);
    }

    [Fact]
    public void Services_are_names_or_mappings()
    {
        var job = OnlyJob("""
            job:
              services:
                - postgres:16
                - name: python:3
                  alias: web
                  entrypoint: [python3]
                  command: ["-m", "http.server", "8080"]
              script: [echo]
            """);

        Assert.Equal(("postgres:16", null), (job.Services[0].Name, job.Services[0].Alias));
        Assert.Empty(job.Services[0].Command);
        Assert.Equal("web", job.Services[1].Alias);
        Assert.Equal(["python3"], job.Services[1].Entrypoint);
        Assert.Equal(["-m", "http.server", "8080"], job.Services[1].Command);
    }

    [Fact]
    public void Caches_are_one_mapping_or_a_list_and_artifacts_keep_their_settings()
    {
        var job = OnlyJob("""
            job:
              cache:
                - { key: a, paths: [x], policy: pull, when: always, untracked: true }
                - { paths: [y] }
              artifacts:
                name: out
                paths: [dist/]
                exclude: [dist/*.tmp]
                when: on_failure
                expire_in: 1 week
                untracked: false
              script: [echo]
            """);

        Assert.Equal(("a", "pull", "always", true), (job.Cache[0].Key, job.Cache[0].Policy, job.Cache[0].When, job.Cache[0].Untracked));
        Assert.Equal(["x"], job.Cache[0].Paths);
        Assert.Equal(("default", "pull-push", "on_success", false), (job.Cache[1].Key, job.Cache[1].Policy, job.Cache[1].When, job.Cache[1].Untracked));
        Assert.Equal(["y"], job.Cache[1].Paths);
        var artifacts = job.Artifacts!;
        Assert.Equal(("out", "on_failure", "1 week", false), (artifacts.Name, artifacts.When, artifacts.ExpireIn, artifacts.Untracked));
        Assert.Equal(["dist/"], artifacts.Paths);
        Assert.Equal(["dist/*.tmp"], artifacts.Exclude);
    }

    [Fact]
    public void Anchors_and_merge_keys_work()
    {
        var file = Parsed("""
            .common: &common
              image: shared
              script: [echo shared]
            .setup: &setup [echo one, echo two]
            job:
              <<: *common
              before_script: [*setup, echo three]
            """);

        var job = Assert.Single(file.Jobs);
        Assert.Equal("shared", job.Image!.Name);
        Assert.Equal(["echo one", "echo two", "echo three"], job.BeforeScript);
    }

    [Theory]
    [InlineData("include: other.yml\njob: { script: [a] }", 1, 1, "include", "not supported by exec")]
    [InlineData("job:\n  extends: .base\n  script: [a]", 2, 3, "job:extends", "not supported by exec")]
    [InlineData(".x: { script: [a] }\njob:\n  script: !reference [.x, script]", 3, 11, "script", "!reference is not supported by exec")]
    [InlineData("job:\n  image: alpine", 1, 1, "job", "no script")]
    [InlineData("job: [a, b]", 1, 6, "job", "must be a mapping")]
    [InlineData("job:\n  script: [a]\n  timeout: soon", 3, 12, "job:timeout", "not a duration")]
    [InlineData("job:\n  script: [a]\n  stage: nowhere", 3, 10, "job:stage", "not one of the file's stages")]
    [InlineData("job:\n  script: [a]\n  cache: { policy: sometimes }", 3, 20, "job:cache:policy", "must be one of")]
    [InlineData("job:\n  script: [a]\n  artifacts: { when: later }", 3, 22, "job:artifacts:when", "must be one of")]
    [InlineData("job:\n  script: { a: b }", 2, 11, "job:script", "string or a list")]
    [InlineData("job:\n  script: [a]\n  variables: [A]", 3, 14, "job:variables", "mapping")]
    [InlineData("job:\n  script: [a]\n  cache: { key: { files: [x] } }", 3, 17, "job:cache:key", "files is not supported")]
    [InlineData("job: { script: [a]\n", 2, 1, "(yaml)", "invalid YAML")]
    [InlineData("", 1, 1, "(file)", "empty")]
    [InlineData("- a\n- b", 1, 1, "(file)", "mapping")]
    [InlineData("stages: [build]\n.x: { script: [a] }", 1, 1, "(file)", "no jobs")]
    public void Errors_name_file_line_column_and_key(string yaml, int line, int column, string key, string message)
    {
        var result = CiFileParser.Parse(yaml, "ci.yml");

        Assert.False(result.IsSuccess);
        Assert.Null(result.File);
        var error = result.Errors[0];
        Assert.Equal(("ci.yml", line, column, key), (error.File, error.Line, error.Column, error.Key));
        Assert.Contains(message, error.Message);
        Assert.StartsWith($"ci.yml:{line}:{column}: {key}: ", error.ToString());
    }

    [Fact]
    public void Unknown_keys_and_reports_are_warnings_that_do_not_stop_the_job()
    {
        var result = CiFileParser.Parse("""
            job:
              script: [a]
              tags: [docker]
              sript: [typo]
              artifacts:
                paths: [x]
                reports: { junit: report.xml }
            """, "ci.yml");

        Assert.True(result.IsSuccess);
        Assert.Equal(
            [("job:sript", 4, "unknown job key, ignored"), ("job:artifacts:reports", 7, "artifact reports are ignored by exec")],
            result.Warnings.Select(w => (w.Key, w.Line, w.Message)));
    }

    [Theory]
    [InlineData("a: &a [*a]")]
    [InlineData("job: { script: [a], <<: 5 }")]
    [InlineData("job:\n  script: [a]\n  services: [{ alias: x }]")]
    [InlineData("? [complex, key]\n: v\njob: { script: [a] }")]
    [InlineData("job:\n  script: [a]\n  variables: { '': x }")]
    [InlineData("job:\n  script: [a]\n  cache: { key: ../up }")]
    public void Hostile_input_gives_errors_not_exceptions(string yaml)
    {
        var result = CiFileParser.Parse(yaml, "ci.yml");
        Assert.False(result.IsSuccess);
        Assert.NotEmpty(result.Errors);
    }
}

public class DurationTextTests
{
    [Theory]
    [InlineData("3600", 3600)]
    [InlineData("90 minutes", 5400)]
    [InlineData("1h 30m", 5400)]
    [InlineData("1h30m", 5400)]
    [InlineData("2 hours and 10 minutes", 7800)]
    [InlineData("1.5h", 5400)]
    [InlineData("1 day", 86400)]
    [InlineData("45s", 45)]
    [InlineData(" 10 mins ", 600)]
    [InlineData("1 week", 604800)]
    public void Parses_what_GitLab_accepts(string text, int seconds)
    {
        Assert.True(DurationText.TryParseSeconds(text, out var parsed));
        Assert.Equal(seconds, parsed);
    }

    [Theory]
    [InlineData("")]
    [InlineData("soon")]
    [InlineData("10 fortnights")]
    [InlineData("h")]
    [InlineData("-5m")]
    [InlineData("99999999999 weeks")]
    public void Refuses_what_is_not_a_duration(string text)
    {
        Assert.False(DurationText.TryParseSeconds(text, out _));
    }
}

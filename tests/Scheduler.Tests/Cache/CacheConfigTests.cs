using Scheduler.Config;
using Scheduler.Messages.Settings;

namespace Scheduler.Scheduler.Tests.Cache;

/// <summary><c>[runners.cache]</c> with GitLab Runner's key names; every mistake names file, line and key.</summary>
public sealed class CacheConfigTests
{
    private const string Head = "concurrent = 1\n[[runners]]\nname = \"r\"\nurl = \"https://gitlab.example.com\"\ntoken = \"glrt-abc\"\n";

    [Fact]
    public void The_S3_cache_is_read_with_GitLab_Runners_keys()
    {
        var result = ConfigLoader.LoadText(Head + """
            [runners.cache]
              Type = "s3"
              Path = "ci/cache"
              Shared = true
              MaxUploadedArchiveSize = 1048576
              [runners.cache.s3]
                ServerAddress = "minio.example.com:9000"
                AccessKey = "AKIAEXAMPLE"
                SecretKey = "secret-key-value"
                BucketName = "runner-cache"
                BucketLocation = "eu-west-1"
                Insecure = true
            """, "config.toml");

        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Empty(result.Warnings);
        var cache = result.Settings!.Runners[0].Cache!;
        Assert.Equal(("s3", "ci/cache", true, 1048576L), (cache.Type, cache.Path, cache.Shared, cache.MaxUploadedArchiveSize));
        Assert.Equal(new S3CacheSettings
        {
            ServerAddress = "minio.example.com:9000", AccessKey = "AKIAEXAMPLE", SecretKey = "secret-key-value", BucketName = "runner-cache",
            BucketLocation = "eu-west-1", Insecure = true,
        }, cache.S3);
        Assert.True(cache.UsesS3);
        Assert.DoesNotContain("secret-key-value", result.Settings.ToString(), StringComparison.Ordinal);
    }

    [Fact]
    public void Empty_keys_use_the_AWS_credential_chain()
    {
        var result = ConfigLoader.LoadText(Head + "[runners.cache]\nType = \"s3\"\n[runners.cache.s3]\nBucketName = \"b\"\n", "config.toml");
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Equal(("", ""), (result.Settings!.Runners[0].Cache!.S3!.AccessKey, result.Settings.Runners[0].Cache!.S3!.SecretKey));
    }

    [Theory]
    [InlineData("gcs")]
    [InlineData("azure")]
    public void GCS_and_Azure_load_with_a_warning_that_they_are_not_supported_yet(string type)
    {
        var result = ConfigLoader.LoadText(Head + $"[runners.cache]\nType = \"{type}\"\n[runners.cache.{type}]\nBucketName = \"b\"\n", "config.toml");
        Assert.True(result.IsValid, string.Join("\n", result.Errors));
        Assert.Contains(result.Warnings, w => w.Key == "runners[0].cache.Type" && w.Message.Contains($"cache type \"{type}\" is not supported yet", StringComparison.Ordinal));
        Assert.Contains(result.Warnings, w => w.Key == $"runners[0].cache.{type}" && w.Message.Contains("not implemented yet", StringComparison.Ordinal));
        Assert.False(result.Settings!.Runners[0].Cache!.UsesS3);
    }

    [Theory]
    [InlineData("Type = \"ftp\"", "runners[0].cache.Type", 7, "unknown cache type \"ftp\"")]
    [InlineData("Type = \"s3\"", "runners[0].cache.s3", 7, "needs [runners.cache.s3] with a BucketName")]
    [InlineData("MaxUploadedArchiveSize = -1", "runners[0].cache.MaxUploadedArchiveSize", 7, "must not be negative")]
    [InlineData("Type = \"s3\"\n[runners.cache.s3]\nBucketName = \"b\"\nAccessKey = \"only-one\"", "runners[0].cache.s3.SecretKey", 8, "go together")]
    [InlineData("Type = \"s3\"\n[runners.cache.s3]\nBucketName = \"b\"\nServerAddress = \"https://minio:9000\"", "runners[0].cache.s3.ServerAddress", 10, "without a scheme")]
    public void Mistakes_are_errors_with_file_line_and_key(string body, string key, int line, string message)
    {
        var result = ConfigLoader.LoadText(Head + "[runners.cache]\n" + body + "\n", "config.toml");
        var error = Assert.Single(result.Errors);
        Assert.Equal(("config.toml", line, key), (error.File, error.Line, error.Key));
        Assert.Contains(message, error.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void Keys_of_GitLab_Runners_S3_cache_that_have_no_effect_are_named()
    {
        var result = ConfigLoader.LoadText(Head + "[runners.cache]\nType = \"s3\"\n[runners.cache.s3]\nBucketName = \"b\"\nServerSideEncryption = \"S3\"\n", "config.toml");
        Assert.True(result.IsValid);
        Assert.Contains(result.Warnings, w => w.Key == "runners[0].cache.s3.ServerSideEncryption" && w.Message.Contains("has no effect here", StringComparison.Ordinal));
    }
}

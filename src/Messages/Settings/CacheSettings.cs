namespace Scheduler.Messages.Settings;

/// <summary><c>[runners.cache]</c>: where jobs' caches are kept between jobs. Only <see cref="S3Type"/> is used; any other
/// type (or none) keeps the cache inside the pod, where it lasts as long as the job.</summary>
public sealed record CacheSettings
{
    public const string S3Type = "s3";

    /// <summary><c>Type</c> as written (<c>s3</c>, <c>gcs</c>, <c>azure</c>); empty when not set.</summary>
    public string Type { get; init; } = "";
    /// <summary><c>Path</c>: a prefix of every object name.</summary>
    public string Path { get; init; } = "";
    /// <summary><c>Shared</c>: runners share one cache per project (no <c>runner/&lt;short token&gt;/</c> part in the name).</summary>
    public bool Shared { get; init; }
    /// <summary><c>MaxUploadedArchiveSize</c> in bytes; 0: no limit. A larger archive stays in the pod, as GitLab Runner.</summary>
    public long MaxUploadedArchiveSize { get; init; }
    public S3CacheSettings? S3 { get; init; }

    /// <summary>True when jobs get pre-signed URLs of an S3 bucket for their caches.</summary>
    public bool UsesS3 => string.Equals(Type, S3Type, StringComparison.OrdinalIgnoreCase) && S3 is { BucketName.Length: > 0 };
}

/// <summary><c>[runners.cache.s3]</c>. With <see cref="AccessKey"/> and <see cref="SecretKey"/> both empty the AWS SDK's default
/// credential chain is used (environment, profile, web identity, instance or task role).</summary>
public sealed record S3CacheSettings
{
    /// <summary>Keeps the secret key out of logs: the printed form of the record masks it.</summary>
    private bool PrintMembers(System.Text.StringBuilder builder) => SecretMaskingPrinter.PrintMembers(this, builder, nameof(SecretKey));

    /// <summary><c>host[:port]</c> of an S3-compatible server; empty: AWS S3 of <see cref="BucketLocation"/>.</summary>
    public string ServerAddress { get; init; } = "";
    public string AccessKey { get; init; } = "";
    /// <summary>A secret.</summary>
    public string SecretKey { get; init; } = "";
    public string BucketName { get; init; } = "";
    /// <summary>The bucket's region; empty: <c>us-east-1</c>.</summary>
    public string BucketLocation { get; init; } = "";
    /// <summary><c>Insecure</c>: the server speaks plain HTTP.</summary>
    public bool Insecure { get; init; }
}

using Scheduler.Messages.Settings;

namespace Scheduler.Config;

/// <summary>Reads <c>[runners.cache]</c> and <c>[runners.cache.s3]</c> with GitLab Runner's key names. Only the S3 type is
/// implemented: GCS and Azure load with a warning (the cache then stays in the pod); an unknown type is an error.</summary>
internal static class CacheSettingsReader
{
    public static readonly string[] Keys = ["Type", "Path", "Shared", "MaxUploadedArchiveSize", "s3"];

    public static readonly string[] S3Keys = ["ServerAddress", "AccessKey", "SecretKey", "BucketName", "BucketLocation", "Insecure"];

    private const string NotYetTypes = "the GCS and Azure caches are not implemented yet; only Type = \"s3\" is";

    public static readonly IReadOnlyDictionary<string, ConfigKeys.NoEffect> NoEffect = new Dictionary<string, ConfigKeys.NoEffect>
    {
        ["gcs"] = new(NotYetTypes, true),
        ["azure"] = new(NotYetTypes, true),
    };

    public static readonly IReadOnlyDictionary<string, ConfigKeys.NoEffect> S3NoEffect = new Dictionary<string, ConfigKeys.NoEffect>
    {
        ["SessionToken"] = new("temporary credentials come from the AWS credential chain (leave AccessKey and SecretKey empty)", true),
        ["AuthenticationType"] = new("static keys are used when set, otherwise the AWS credential chain", false),
        ["ServerSideEncryption"] = new("server-side encryption is left to the bucket's default", true),
        ["ServerSideEncryptionKeyID"] = new("server-side encryption is left to the bucket's default", true),
        ["DualStack"] = new("the endpoint is ServerAddress or AWS S3's regional endpoint", true),
        ["PathStyle"] = new("a ServerAddress is addressed path-style, AWS S3 virtual-host style", true),
        ["Accelerate"] = new("S3 Transfer Acceleration is not used", true),
        ["RoleARN"] = new("roles are taken from the AWS credential chain, not assumed by the runner", true),
        ["UploadRoleARN"] = new("roles are taken from the AWS credential chain, not assumed by the runner", true),
        ["AssumeRoleMaxDuration"] = new("roles are taken from the AWS credential chain, not assumed by the runner", true),
    };

    public static CacheSettings Read(TableReader table)
    {
        var type = table.String("Type") ?? "";
        switch (type.ToLowerInvariant())
        {
            case "" or CacheSettings.S3Type:
                break;
            case "gcs" or "azure":
                table.Diagnostics.Warning(table.ValuePosition("Type"), table.KeyPath("Type"),
                    $"cache type \"{type}\" is not supported yet (only \"s3\" is): jobs keep their caches in the pod only");
                break;
            default:
                table.Diagnostics.Error(table.ValuePosition("Type"), table.KeyPath("Type"),
                    $"unknown cache type \"{type}\"; use \"s3\" (\"gcs\" and \"azure\" are not supported yet)");
                break;
        }

        var maxSize = table.Long("MaxUploadedArchiveSize");
        if (maxSize < 0)
        {
            table.Diagnostics.Error(table.ValuePosition("MaxUploadedArchiveSize"), table.KeyPath("MaxUploadedArchiveSize"),
                "must not be negative (0 means no limit)");
            maxSize = null;
        }

        var s3Table = table.Table("s3");
        var settings = new CacheSettings
        {
            Type = type,
            Path = table.String("Path") ?? "",
            Shared = table.Bool("Shared") ?? false,
            MaxUploadedArchiveSize = maxSize ?? 0,
            S3 = s3Table is null ? null : ReadS3(s3Table),
        };
        table.ReportUnread(Keys, NoEffect);

        if (string.Equals(type, CacheSettings.S3Type, StringComparison.OrdinalIgnoreCase) && settings.S3 is not { BucketName.Length: > 0 })
        {
            var (position, path) = s3Table is null
                ? (table.ValuePosition("Type"), table.KeyPath("s3"))
                : (s3Table.Position, s3Table.KeyPath("BucketName"));
            table.Diagnostics.Error(position, path, "Type = \"s3\" needs [runners.cache.s3] with a BucketName");
        }

        return settings;
    }

    private static S3CacheSettings ReadS3(TableReader table)
    {
        var server = table.String("ServerAddress") ?? "";
        if (server.Contains("://", StringComparison.Ordinal) || server.Contains('/', StringComparison.Ordinal))
        {
            table.Diagnostics.Error(table.ValuePosition("ServerAddress"), table.KeyPath("ServerAddress"),
                $"\"{server}\" must be host[:port] without a scheme or path (Insecure = true selects http)");
            server = "";
        }

        var accessKey = table.String("AccessKey") ?? "";
        var secretKey = table.String("SecretKey", secret: true) ?? "";
        if ((accessKey.Length == 0) != (secretKey.Length == 0))
        {
            var missing = accessKey.Length == 0 ? "AccessKey" : "SecretKey";
            table.Diagnostics.Error(table.Position, table.KeyPath(missing),
                "AccessKey and SecretKey go together: set both, or neither to use the AWS credential chain");
        }

        var settings = new S3CacheSettings
        {
            ServerAddress = server,
            AccessKey = accessKey,
            SecretKey = secretKey,
            BucketName = table.String("BucketName") ?? "",
            BucketLocation = table.String("BucketLocation") ?? "",
            Insecure = table.Bool("Insecure") ?? false,
        };
        table.ReportUnread(S3Keys, S3NoEffect);
        return settings;
    }
}

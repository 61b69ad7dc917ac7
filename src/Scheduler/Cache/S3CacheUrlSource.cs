using System.Collections.Concurrent;
using Amazon;
using Amazon.Runtime;
using Amazon.S3;
using Amazon.S3.Model;
using Scheduler.Actors.Scripts;
using Scheduler.Messages.Jobs;
using Scheduler.Messages.Settings;

namespace Scheduler.Cache;

/// <summary>
/// Pre-signs GET and PUT URLs of S3 cache objects with the AWS SDK, as GitLab Runner's S3 cache does: the helper in the
/// pod only ever gets the URLs. A URL lasts as long as the job may (its timeout, plus an hour for the stages after the
/// script), at most the 7 days S3 allows. With no AccessKey/SecretKey the SDK's default credential chain signs.
/// </summary>
public sealed class S3CacheUrlSource : ICacheUrlSource, IDisposable
{
    private static readonly TimeSpan MaxExpiry = TimeSpan.FromDays(7);
    private readonly ConcurrentDictionary<S3CacheSettings, AmazonS3Client> _clients = new();

    public CacheObjectUrls? For(RunnerEntry runner, JobPayload job, string key)
    {
        if (runner.Cache is not { UsesS3: true } cache || cache.S3 is not { } s3)
        {
            return null;
        }

        if (CacheObjectName.For(cache, runner.Token, job.JobInfo.ProjectId, key) is not { } objectName)
        {
            return new CacheObjectUrls(null, null, $"cache key \"{key}\" leaves the project's part of the bucket; the cache stays in the pod");
        }

        var expiry = TimeSpan.FromSeconds(job.RunnerInfo.EffectiveTimeoutSeconds) + TimeSpan.FromHours(1);
        var expires = DateTime.UtcNow + (expiry < MaxExpiry ? expiry : MaxExpiry);
        try
        {
            var client = _clients.GetOrAdd(s3, CreateClient);
            return new CacheObjectUrls(Sign(client, s3, objectName, HttpVerb.GET, expires), Sign(client, s3, objectName, HttpVerb.PUT, expires));
        }
        catch (Exception e) when (e is AmazonClientException or AmazonServiceException or ArgumentException or InvalidOperationException)
        {
            // No credentials in the chain, a bad region: the job goes on with its cache in the pod, as GitLab Runner's does.
            var reason = e.Message.Split('\n', 2)[0].Trim();
            return new CacheObjectUrls(null, null, $"the cache URLs could not be signed ({reason}); the cache stays in the pod");
        }
    }

    public void Dispose()
    {
        foreach (var client in _clients.Values)
        {
            client.Dispose();
        }

        _clients.Clear();
    }

    private static string Sign(AmazonS3Client client, S3CacheSettings s3, string objectName, HttpVerb verb, DateTime expires) =>
        client.GetPreSignedURL(new GetPreSignedUrlRequest
        {
            BucketName = s3.BucketName,
            Key = objectName,
            Verb = verb,
            Expires = expires,
            Protocol = s3.Insecure ? Protocol.HTTP : Protocol.HTTPS,
        });

    private static AmazonS3Client CreateClient(S3CacheSettings s3)
    {
        var region = string.IsNullOrEmpty(s3.BucketLocation) ? "us-east-1" : s3.BucketLocation;
        var config = new AmazonS3Config();
        if (s3.ServerAddress.Length > 0)
        {
            // An S3-compatible server (MinIO and the like) is addressed path-style, at the region it is told.
            config.ServiceURL = (s3.Insecure ? "http://" : "https://") + s3.ServerAddress;
            config.ForcePathStyle = true;
            config.AuthenticationRegion = region;
        }
        else
        {
            config.RegionEndpoint = RegionEndpoint.GetBySystemName(region);
        }

        return s3.AccessKey.Length > 0
            ? new AmazonS3Client(new BasicAWSCredentials(s3.AccessKey, s3.SecretKey), config)
            : new AmazonS3Client(config);
    }
}

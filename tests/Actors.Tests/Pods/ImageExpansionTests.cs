using Scheduler.Messages.Jobs;

namespace Scheduler.Actors.Tests.Pods;

/// <summary>Image and service names are expanded with the job's variables as GitLab Runner does; a name that would put a
/// secret into the pod spec refuses the job, and the refusal never shows the secret.</summary>
public sealed class ImageExpansionTests
{
    private static readonly JobVariable[] Variables =
    [
        TestData.Public("REGISTRY", "registry.example.com/team"),
        TestData.Public("TAG", "1.4"),
        TestData.Public("EMPTY", ""),
        TestData.Masked("MASKED_TAG", "s3cr3t-tag"),
        TestData.Hidden("PROTECTED_TAG", "protected-tag"),
        new() { Key = "FILE_TAG", Value = "file-content", Public = true, File = true },
    ];

    public static TheoryData<string, string> Expanded => new()
    {
        { "$REGISTRY/app:$TAG", "registry.example.com/team/app:1.4" },
        { "${REGISTRY}/app:${TAG}", "registry.example.com/team/app:1.4" },
        { "alpine:3.20", "alpine:3.20" },
        { "alpine:$UNDEFINED", "alpine:" },
    };

    [Theory]
    [MemberData(nameof(Expanded))]
    public void Image_and_service_names_are_expanded(string name, string expected)
    {
        var job = TestData.Job(variables: Variables, image: name, services: [new JobService { Name = name }]);

        var pod = TestData.Plan(job: job).Pod;

        Assert.Equal(expected, pod.Spec.Containers.Single(c => c.Name == "build").Image);
        Assert.Equal(expected, pod.Spec.Containers.Single(c => c.Name == "svc-0").Image);
    }

    [Theory]
    [InlineData("app:$MASKED_TAG", "MASKED_TAG")]
    [InlineData("app:$PROTECTED_TAG", "PROTECTED_TAG")]
    [InlineData("app:$FILE_TAG", "FILE_TAG")]
    public void A_reference_to_a_secret_refuses_the_job_without_showing_it(string name, string variable)
    {
        var image = TestData.Refusal(job: TestData.Job(variables: Variables, image: name));
        var service = TestData.Refusal(job: TestData.Job(variables: Variables, services: [new JobService { Name = name }]));

        Assert.Equal($"image \"{name}\" refers to the masked, non-public or file variable {variable}; secrets never go into the pod spec", image);
        Assert.StartsWith($"service \"{name}\" image \"{name}\" refers to the masked, non-public or file variable {variable}", service,
            StringComparison.Ordinal);
        Assert.DoesNotContain("s3cr3t-tag", image + service, StringComparison.Ordinal);
        Assert.DoesNotContain("protected-tag", image + service, StringComparison.Ordinal);
        Assert.DoesNotContain("file-content", image + service, StringComparison.Ordinal);
    }

    [Fact]
    public void A_name_that_expands_to_nothing_refuses_the_job()
    {
        Assert.Equal("image \"$EMPTY\" expands to an empty image name", TestData.Refusal(job: TestData.Job(variables: Variables, image: "$EMPTY")));
    }
}

# The API's resource policy: Application Auto Scaling's service-linked role
# may call GET and PATCH on /scalableTargetDimensions/* of this stage. Its
# managed policy (AWSApplicationAutoScalingCustomResourcePolicy) already
# allows execute-api:Invoke; this makes the grant explicit on the API side,
# for both methods. Principal "*" with aws:PrincipalArn, because the role
# does not exist before the account's first custom-resource registration
# and a policy that names a missing role as Principal is refused. Same-account
# callers whose own IAM policy allows execute-api:Invoke (an operator testing
# with a signed curl, ../README.md) are still admitted: for them either policy
# is enough. Every call still needs SigV4 (AWS_IAM on both methods).

data "aws_caller_identity" "current" {}

data "aws_partition" "current" {}

locals {
  aas_role_arn = "arn:${data.aws_partition.current.partition}:iam::${data.aws_caller_identity.current.account_id}:role/aws-service-role/custom-resource.application-autoscaling.amazonaws.com/AWSServiceRoleForApplicationAutoScaling_CustomResource"
}

data "aws_iam_policy_document" "invoke" {
  statement {
    sid     = "ApplicationAutoScalingGetAndPatch"
    effect  = "Allow"
    actions = ["execute-api:Invoke"]
    resources = [
      "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/GET/scalableTargetDimensions/*",
      "${aws_api_gateway_rest_api.this.execution_arn}/${var.stage_name}/PATCH/scalableTargetDimensions/*",
    ]

    principals {
      type        = "AWS"
      identifiers = ["*"]
    }

    condition {
      test     = "ArnEquals"
      variable = "aws:PrincipalArn"
      values   = [local.aas_role_arn]
    }
  }
}

resource "aws_api_gateway_rest_api_policy" "this" {
  rest_api_id = aws_api_gateway_rest_api.this.id
  policy      = data.aws_iam_policy_document.invoke.json
}

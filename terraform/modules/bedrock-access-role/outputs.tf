output "role_arn" {
  description = "ARN of the role: a catalog target's role_arn (and, or instead, an entry of the gateway-service module's bedrock_role_arns)."
  value       = aws_iam_role.this.arn
}

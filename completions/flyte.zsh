
#compdef flyte

_flyte_completion() {
  eval $(env _TYPER_COMPLETE_ARGS="${words[1,$CURRENT]}" _FLYTE_COMPLETE=complete_zsh flyte)
}

compdef _flyte_completion flyte


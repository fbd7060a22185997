
_flyte_completion() {
    local IFS=$'\n'
    COMPREPLY=( $( env COMP_WORDS="${COMP_WORDS[*]}" \
                   COMP_CWORD=$COMP_CWORD \
                   _FLYTE_COMPLETE=complete_bash $1 ) )
    # A folder (`examples/`) is not a whole word: no space after it, so the path goes on.
    if [[ ${#COMPREPLY[@]} -eq 1 && ${COMPREPLY[0]} == */ ]]; then
        compopt -o nospace
    fi
    return 0
}

complete -o default -F _flyte_completion flyte

